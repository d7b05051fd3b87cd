import { request } from 'node:http';

/** What one warm-up or health request to an instance saw. */
export type ProbeOutcome =
  | {
      kind: 'answered';
      status: number;
      /** Value of the warming-up header when the response carried it. */
      warmingUp: string | null;
      /** `Location` of a redirect. */
      location: string | null;
    }
  /** Nothing listens on the port (yet). */
  | { kind: 'refused' }
  /** No complete answer within the request timeout: still warming (a hanging request is not an error). */
  | { kind: 'hanging'; afterMs: number }
  /** The connection broke (reset, closed early). */
  | { kind: 'error'; detail: string };

export interface ProbeOptions {
  port: number;
  path: string;
  /** `Host` header (IIS `hostName`); default `localhost:<port>`. */
  hostName: string | null;
  /** The warming-up header to look for. */
  header: string;
  timeoutMs: number;
  host?: string;
  signal?: AbortSignal;
}

/**
 * One `GET` to an instance on its own connection (no keep-alive, no redirect following).
 * An answer counts once the whole response has arrived; never rejects.
 */
export function probe(opts: ProbeOptions): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(o);
    };
    const req = request({
      host: opts.host ?? '127.0.0.1',
      port: opts.port,
      path: opts.path,
      method: 'GET',
      agent: false,
      headers: { host: opts.hostName ?? `localhost:${opts.port}`, 'user-agent': 'kiln-warmup/1', connection: 'close' },
    });
    const timer = setTimeout(() => done({ kind: 'hanging', afterMs: opts.timeoutMs }), opts.timeoutMs);
    const onAbort = () => done({ kind: 'error', detail: 'aborted' });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      const warm = res.headers[opts.header.toLowerCase()];
      const outcome: ProbeOutcome = {
        kind: 'answered',
        status: res.statusCode ?? 0,
        warmingUp: warm === undefined ? null : Array.isArray(warm) ? warm.join(', ') : warm,
        location: typeof res.headers.location === 'string' ? res.headers.location : null,
      };
      res.on('data', () => undefined);
      res.on('end', () => done(outcome));
      res.on('error', (e) => done({ kind: 'error', detail: e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', detail: e.code ?? e.message }));
    req.end();
  });
}

/** How warm-up reads a probe: warm (2xx, or a redirect: an answer, with a warning), or still warming. */
export type ProbeVerdict =
  | { warm: true; warning: string | null }
  | { warm: false; observation: string; signal: boolean };

export function judge(o: ProbeOutcome, path: string, header: string): ProbeVerdict {
  switch (o.kind) {
    case 'answered':
      if (o.warmingUp !== null) return { warm: false, observation: `${o.status} with ${header}: ${o.warmingUp}`, signal: true };
      if (o.status >= 200 && o.status < 300) return { warm: true, warning: null };
      if (o.status >= 300 && o.status < 400) {
        return { warm: true, warning: `GET ${path} answered ${o.status}${o.location ? ` (Location: ${o.location})` : ''}: a redirect counts as an answer` };
      }
      return { warm: false, observation: String(o.status), signal: false };
    case 'refused':
      return { warm: false, observation: 'connection refused', signal: false };
    case 'hanging':
      return { warm: false, observation: `no answer within ${formatMs(Math.max(o.afterMs, 1))} (hanging)`, signal: false };
    case 'error':
      return { warm: false, observation: o.detail, signal: false };
  }
}

/** `600000` → `10m`, `90000` → `1m30s`, `2500` → `2.5s`, `300` → `300ms`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s ? `${m}m${s}s` : `${m}m`;
}
