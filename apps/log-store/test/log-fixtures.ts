import http, { IncomingHttpHeaders } from 'node:http';
import { JetStreamClient } from 'nats';
import { encodeLogChunk, KilnNames, LogChunk, LogLine, logChunkMsgId } from '@kiln/contracts';

/**
 * Appends a build's log the way the runner does: numbered chunks of consecutive lines with
 * `Nats-Msg-Id`, then one end record. Keeps the lines it wrote, in order, for assertions.
 */
export class LogWriter {
  readonly written: LogLine[] = [];
  private chunk = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly names: KilnNames,
    readonly buildId: string,
    readonly attempt = 1,
  ) {}

  /** One chunk of `count` lines (texts `<buildId> line <n>`, plus `pad` dots), all of `step`. */
  async lines(count: number, step: number | null = 0, pad = 0): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    const padding = '.'.repeat(pad);
    for (let i = 0; i < count; i++) {
      const n = this.written.length + lines.length + 1;
      lines.push({ n, t: 1_700_000_000_000 + n, stream: n % 5 === 0 ? 'stderr' : 'stdout', step, text: `${this.buildId} line ${n}${padding}` });
    }
    await this.publish({ kind: 'lines', buildId: this.buildId, attempt: this.attempt, chunk: ++this.chunk, lines });
    this.written.push(...lines);
    return lines;
  }

  /** Chunks of the given sizes, in order. */
  async chunks(sizes: number[], step: number | null = 0): Promise<void> {
    for (const s of sizes) await this.lines(s, step);
  }

  async end(status = 'succeeded'): Promise<void> {
    await this.publish({ kind: 'end', buildId: this.buildId, attempt: this.attempt, status });
  }

  texts(filter: (l: LogLine) => boolean = () => true): string[] {
    return this.written.filter(filter).map((l) => l.text);
  }

  private async publish(c: LogChunk): Promise<void> {
    await this.js.publish(this.names.subjects.log(this.buildId), encodeLogChunk(c), { msgID: logChunkMsgId(c) });
  }
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One parsed Server-Sent Event. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** An SSE client on node's http: parses events as they arrive. */
export function openSse(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{
    status: number;
    headers: IncomingHttpHeaders;
    events: SseEvent[];
    comments: string[];
    body: () => string;
    ended: () => boolean;
    close: () => void;
  }>((resolve, reject) => {
    const events: SseEvent[] = [];
    const comments: string[] = [];
    let raw = '';
    let buf = '';
    let ended = false;
    const req = http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data += line.slice(6);
          }
          if (block.split('\n').some((l) => !l.startsWith(':'))) events.push(ev);
        }
      });
      res.on('end', () => (ended = true));
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        body: () => raw,
        ended: () => ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
}
