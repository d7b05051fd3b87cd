import { connect, NatsConnection, ConnectionOptions } from 'nats';

/**
 * Connects to NATS with reconnects forever (a broker restart must not kill a service).
 * Throws a clear error naming the URL when the first connection cannot be made.
 */
export async function connectNats(url: string, name: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  try {
    return await connect({
      servers: url.split(',').map((s) => s.trim()),
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 10_000,
      ...extra,
    });
  } catch (e) {
    throw new Error(
      `cannot connect to NATS at ${url} (${(e as Error).message}). Start it with: nats-server -js ` +
        `(or set NATS_URL)`,
      { cause: e },
    );
  }
}
