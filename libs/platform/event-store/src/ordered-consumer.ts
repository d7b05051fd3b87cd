import { Consumer, JetStreamClient, OrderedConsumerOptions } from 'nats';
// nats.js (pinned in package.json) asks the server for the stream's info before every
// ordered consumer, only to check that the stream exists; Kiln's streams are ensured at
// start, so reads and follows skip that round trip by building the consumer directly.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const internals = require('nats/lib/jetstream/consumer') as { OrderedPullConsumerImpl?: new (api: unknown, stream: string, opts: Partial<OrderedConsumerOptions>) => Consumer };

/** Whether the direct path is available (a nats.js upgrade that moved its internals falls back, and a test says so). */
export const orderedConsumerFastPath = (js: JetStreamClient): boolean => typeof internals.OrderedPullConsumerImpl === 'function' && !!(js.consumers as unknown as { api?: unknown }).api;

/** An ordered (ephemeral, client-positioned) consumer of `stream`, without the stream-info round trip. */
export function orderedConsumer(js: JetStreamClient, stream: string, opts: Partial<OrderedConsumerOptions>): Promise<Consumer> {
  if (!orderedConsumerFastPath(js)) return js.consumers.get(stream, opts);
  return Promise.resolve(new internals.OrderedPullConsumerImpl!((js.consumers as unknown as { api: unknown }).api, stream, opts));
}

/**
 * Ends a read through an ordered consumer: stops its pulls, then deletes it on the server
 * without waiting for the answer. nats.js leaves a closed ordered consumer on the server
 * until its 5-minute inactivity limit, and every append to the stream wakes each consumer
 * left there: a bench of 100 builds left hundreds.
 */
export async function closeOrdered(messages: { close(): Promise<void | Error> }, consumer: Consumer): Promise<void> {
  await messages.close().catch(() => undefined);
  void consumer.delete().catch(() => undefined);
}
