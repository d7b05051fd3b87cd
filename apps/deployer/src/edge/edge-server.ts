import { Agent, createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { Logger } from '@kiln/telemetry';
import { keepConnectionsLonger } from '@kiln/service-kit';
import { Backend, EdgeRouter } from './edge-router';

/** Host suffix that names an environment: `<environment>.localhost`. */
export const EDGE_HOST_SUFFIX = '.localhost';

/** The environment a request is for, from its `Host` header (`staging.localhost:8090` → `staging`); null when it names none. */
export function environmentFromHost(host: string | undefined): string | null {
  if (!host) return null;
  const name = host.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  if (!name.endsWith(EDGE_HOST_SUFFIX)) return null;
  const env = name.slice(0, -EDGE_HOST_SUFFIX.length);
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(env) ? env : null;
}

type EdgeRequest = IncomingMessage & { kilnBackend?: Backend };

const BACKEND_AGENT = new Agent({ keepAlive: true, timeout: 2000 });

/**
 * Kiln's edge router: an HTTP reverse proxy (http-proxy-middleware) in front of every
 * environment's instances. A request is for the environment its `Host` header names
 * (`<environment>.localhost`, any port); it goes to one backend that {@link EdgeRouter.pick}
 * chooses at the moment the request arrives, and counts as in flight there until its
 * response is done (so an old instance drains before it is stopped).
 *
 * Answers of the edge itself are JSON `{ error, message }`: 404 for a host that names no
 * known environment, 503 (with `Retry-After`) when the environment has no instance, 502 when
 * the chosen instance did not answer.
 */
export class EdgeServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly router: EdgeRouter,
    private readonly log: Logger,
  ) {}

  /** Listens on `port` (0: any free port); resolves with the bound port. */
  async start(port: number, host = '0.0.0.0'): Promise<number> {
    const proxy = createProxyMiddleware<EdgeRequest, ServerResponse>({
      router: (req) => `http://${req.kilnBackend!.host}:${req.kilnBackend!.port}`,
      // idle connections to instances close after 2 s, before the app's own server closes
      // them (Node's default is 5 s): reusing one the app just closed would be a 502
      agent: BACKEND_AGENT,
      // the app sees the Host the client sent (`<environment>.localhost`)
      changeOrigin: false,
      xfwd: true,
      // own error answer (JSON) instead of the default plugins' text
      ejectPlugins: true,
      plugins: [
        (proxyServer) => {
          proxyServer.on('error', (err: Error & { code?: string }, req: EdgeRequest, res: ServerResponse | Socket) => {
            const b = req.kilnBackend;
            this.log.warn('edge: instance did not answer', { instanceId: b?.instanceId, port: b?.port, reason: err.message });
            if (res instanceof ServerResponse) {
              if (!res.headersSent) reply(res, 502, 'bad_gateway', `instance ${b?.instanceId ?? '?'} did not answer: ${err.code ?? err.message}`);
              else res.destroy();
            } else {
              res.destroy();
            }
          });
        },
      ],
    });
    const server = createServer((req: EdgeRequest, res) => {
      const environment = environmentFromHost(req.headers.host);
      if (environment === null) {
        reply(res, 404, 'not_found', `the edge routes by Host <environment>${EDGE_HOST_SUFFIX}; got "${req.headers.host ?? ''}"`);
        return;
      }
      const backend = this.router.pick(environment);
      if (backend === undefined) {
        reply(res, 404, 'not_found', `no environment "${environment}"`);
        return;
      }
      if (backend === null) {
        res.setHeader('Retry-After', '2');
        reply(res, 503, 'unavailable', `environment "${environment}" has no running instance`);
        return;
      }
      req.kilnBackend = backend;
      backend.inflight++;
      res.once('close', () => backend.inflight--);
      void proxy(req, res, (err?: unknown) => {
        if (err && !res.headersSent) reply(res, 502, 'bad_gateway', String((err as Error)?.message ?? err));
      });
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    keepConnectionsLonger(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as { port: number }).port;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Stops accepting connections; open ones are closed after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    const t = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(t);
  }
}

function reply(res: ServerResponse, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-kiln-edge': '1' });
  res.end(body);
}
