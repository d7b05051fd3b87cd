import { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { decodeLogChunk, InvalidError, parseLogCursor, KilnNames, LogChunk, LogCursor } from '@kiln/contracts';
import { follow, lastSubjectSeq } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { compareCursor, CursorLine, linesOf, PositionedLine } from './log-cursor';
import { LogTail, TailHub } from './tail-hub';

export type { CursorLine } from './log-cursor';
export type { LogTail } from './tail-hub';

/** Most lines one history read returns. */
export const MAX_HISTORY_LIMIT = 5000;

export interface HistoryOptions {
  /** Resume after this line; null or absent: from the first line. */
  after?: LogCursor | null;
  /** Most lines to return, 1..5000. */
  limit: number;
  /** Only lines of this step index. */
  step?: number;
}

export interface LogPage {
  /** Lines in log order, each with its cursor and attempt. */
  lines: CursorLine[];
  /** Cursor of the last returned line; null when none was returned. */
  nextCursor: string | null;
  /** Set when the build's end record was reached: nothing follows. */
  end: { status: string } | null;
}

/**
 * Reads a build's log from its subject in the logs stream: `history` is a bounded read of
 * what exists now, `tail` the same read that keeps following until the end record. Tails
 * of one build share one live consumer (see {@link TailHub}).
 */
export class LogReader {
  private readonly hub: TailHub;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: KilnNames,
    private readonly log: Logger = new Logger('log-store'),
  ) {
    this.hub = new TailHub({
      page: (buildId, after, limit) => this.read(buildId, after, limit),
      open: (buildId, startSeq, onRecord) =>
        follow(this.js, this.jsm, {
          stream: this.names.streams.logs,
          filter: this.subjectOf(buildId),
          startSeq,
          onMessage: (m) => onRecord(m.seq, this.decode(m)),
          onError: (e, m) => this.log.error('log tail delivery failed', { buildId, seq: m.seq, err: e as Error }),
        }),
    });
  }

  /** Up to `limit` lines after `after` that exist now; never waits for new ones. */
  async history(buildId: string, opts: HistoryOptions): Promise<LogPage> {
    const { limit, step } = opts;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw new InvalidError(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
    }
    if (step !== undefined && (!Number.isInteger(step) || step < 0)) throw new InvalidError('step must be a non-negative integer');
    const page = await this.read(buildId, opts.after ?? null, limit, step);
    const lines = page.lines.map((p) => p.line);
    return { lines, nextCursor: lines.length ? lines[lines.length - 1].cursor : null, end: page.end };
  }

  /**
   * Every line that exists now, page by page (`pageSize` lines each), up to the end record
   * or the last record; for exports such as the raw text.
   */
  async *pages(buildId: string, opts: { step?: number; pageSize?: number } = {}): AsyncGenerator<CursorLine[]> {
    const limit = opts.pageSize ?? MAX_HISTORY_LIMIT;
    let after: LogCursor | null = null;
    for (;;) {
      const page = await this.history(buildId, { after, limit, step: opts.step });
      if (page.lines.length) yield page.lines;
      if (page.end || page.lines.length < limit) return;
      after = parseLogCursor(page.nextCursor);
    }
  }

  /**
   * Delivers the lines after `after` (null: from the first), then new lines as they are
   * appended, until the end record (`onEnd`, then it stops by itself) or `stop()`.
   * Throws InvalidError synchronously for a malformed build id.
   */
  tail(
    buildId: string,
    after: LogCursor | null,
    onLine: (line: CursorLine) => void,
    onEnd: (status: string) => void,
    onError?: (e: unknown) => void,
  ): LogTail {
    this.subjectOf(buildId);
    return this.hub.watch(buildId, after, { onLine, onEnd, onError });
  }

  /** Live reads and watchers now open. */
  tailStats(): { feeds: number; watchers: number } {
    return this.hub.stats();
  }

  /** Stops every tail (without calling its handlers) and closes the live consumers. */
  close(): Promise<void> {
    return this.hub.close();
  }

  /**
   * The ordered read behind `history` and the catch-up of tails: from the chunk holding
   * `after` to `limit` lines or the last record that exists now. When the page fills at a
   * chunk boundary it looks at one more record so a log ending there reports its end.
   */
  private async read(buildId: string, after: LogCursor | null, limit: number, step?: number): Promise<{ lines: PositionedLine[]; end: { status: string } | null }> {
    const stream = this.names.streams.logs;
    const subject = this.subjectOf(buildId);
    const startSeq = after ? Math.max(after.seq, 1) : 1;
    const lines: PositionedLine[] = [];
    let end: { status: string } | null = null;
    const untilSeq = await lastSubjectSeq(this.jsm, stream, subject);
    if (untilSeq < startSeq) return { lines, end };
    const consumer = await this.js.consumers.get(stream, { filterSubjects: subject, opt_start_seq: startSeq });
    const messages = await consumer.consume({ max_messages: 256 });
    try {
      let full = false;
      read: for await (const m of messages) {
        const chunk = this.decode(m);
        if (chunk?.kind === 'end') {
          end = { status: chunk.status };
          break;
        }
        if (full) break;
        if (chunk) {
          for (const p of linesOf(m.seq, chunk)) {
            if (compareCursor(p.pos, after) <= 0) continue;
            if (step !== undefined && p.line.step !== step) continue;
            if (full) break read;
            lines.push(p);
            full = lines.length >= limit;
          }
        }
        if (m.seq >= untilSeq || m.info.pending === 0) break;
      }
    } finally {
      await messages.close().catch(() => undefined);
    }
    return { lines, end };
  }

  private decode(m: JsMsg): LogChunk | null {
    try {
      return decodeLogChunk(m.data);
    } catch (e) {
      // a record no reader can use; skipping it keeps the rest of the log readable
      this.log.warn('skipping malformed log record', { subject: m.subject, seq: m.seq, err: e as Error });
      return null;
    }
  }

  private subjectOf(buildId: string): string {
    try {
      return this.names.subjects.log(buildId);
    } catch (e) {
      throw new InvalidError(`invalid build id "${buildId}"`, { cause: e });
    }
  }
}
