import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { LogCursor } from '@kiln/contracts';
import { LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { CursorLine, LogReader } from './log-reader';

/** A comment line this often keeps proxies from closing an idle event stream. */
export const SSE_HEARTBEAT_MS = 15_000;
/**
 * A client with this many bytes queued on its socket is paused: nothing more is written
 * for it until the socket drains, then its tail resumes after the last line written (from
 * the live read's window of recent lines, else from the store), so a slow client costs
 * bounded memory and still gets every line once, in order, on the same connection.
 */
export const SSE_HIGH_WATER_BYTES = 256 * 1024;

/** The `line` event of each line, made once: the watchers of a live build share its line objects. */
const sseEvents = new WeakMap<CursorLine, string>();

function sseEvent(line: CursorLine): string {
  let ev = sseEvents.get(line);
  if (ev === undefined) {
    ev = `id: ${line.cursor}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`;
    sseEvents.set(line, ev);
  }
  return ev;
}

/**
 * Writes logs onto HTTP responses that outlive a request handler (Server-Sent Events,
 * streamed raw text) and keeps track of the open ones: on shutdown each is ended and its
 * tail stopped before the server closes.
 */
@Injectable()
export class LogStreams implements BeforeApplicationShutdown {
  private readonly open = new Set<() => Promise<void>>();
  /** Interval of the `: ping` comment on event streams (tests shorten it). */
  heartbeatMs = SSE_HEARTBEAT_MS;
  /** How often a slow client's stream was paused until its socket drained. */
  pauses = 0;

  constructor(
    private readonly reader: LogReader,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /**
   * Serves the build's log as `text/event-stream`: one `line` event per line (its cursor as
   * the event id), then one `end` event with the status, then the response ends. Throws
   * InvalidError before anything is written when the build id is malformed.
   */
  events(buildId: string, after: LogCursor | null, res: Response): void {
    let closed = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      this.open.delete(close);
      if (!res.writableEnded) res.end();
      await tail.stop();
    };
    const tail = this.reader.watch(buildId, after, {
      // the lines handed over together (a chunk's worth) leave in one write
      onLines: (lines: CursorLine[]) => {
        let text = '';
        for (const line of lines) text += sseEvent(line);
        res.write(text);
        if (res.writableLength > SSE_HIGH_WATER_BYTES && !closed) {
          // a slow client: stop handing it lines until its socket drains, then go on from here
          this.pauses++;
          tail.pause();
          res.once('drain', () => {
            if (!closed) tail.resume();
          });
        }
      },
      onEnd: (status) => {
        res.write(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
        void close();
      },
      onError: (e) => {
        this.log.error('log stream failed', { buildId, err: e as Error });
        void close();
      },
    });
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    heartbeat = setInterval(() => res.write(': ping\n\n'), this.heartbeatMs);
    this.open.add(close);
    res.on('close', () => void close());
  }

  /** Streams every line that exists now as `text/plain`, joined with `\n`. */
  async raw(buildId: string, step: number | undefined, res: Response): Promise<void> {
    const pages = this.reader.pages(buildId, { step });
    // the first page is read before the headers, so a bad request still gets a JSON error
    let next = await pages.next();
    let closed = false;
    const close = async () => {
      closed = true;
    };
    this.open.add(close);
    res.on('close', () => void close());
    try {
      res.status(200).type('text/plain; charset=utf-8');
      let first = true;
      while (!next.done && !closed) {
        const text = next.value.map((l) => l.text).join('\n');
        res.write(first ? text : '\n' + text);
        first = false;
        next = await pages.next();
      }
      res.end();
    } catch (e) {
      this.log.error('raw log export failed', { buildId, err: e as Error });
      res.destroy(e as Error);
    } finally {
      this.open.delete(close);
      await pages.return(undefined);
    }
  }

  /** Responses now being streamed. */
  get openCount(): number {
    return this.open.size;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all([...this.open].map((close) => close()));
    await this.reader.close();
  }
}
