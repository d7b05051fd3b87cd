import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { LogCursor } from '@kiln/contracts';
import { LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { CursorLine, LogReader } from './log-reader';

/** A comment line this often keeps proxies from closing an idle event stream. */
export const SSE_HEARTBEAT_MS = 15_000;
/**
 * A client this far behind (bytes queued on its socket) is dropped; its EventSource
 * reconnects with `Last-Event-ID` and resumes where it stopped.
 */
const SSE_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

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
    const tail = this.reader.tail(
      buildId,
      after,
      (line: CursorLine) => {
        res.write(`id: ${line.cursor}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`);
        if (res.writableLength > SSE_MAX_BUFFERED_BYTES) {
          this.log.warn('log stream client too slow; closing so it resumes', { buildId, cursor: line.cursor });
          void close();
        }
      },
      (status) => {
        res.write(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
        void close();
      },
      (e) => {
        this.log.error('log stream failed', { buildId, err: e as Error });
        void close();
      },
    );
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
