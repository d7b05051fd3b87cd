import { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { decodeLogChunk, InvalidError, parseLogCursor, KilnNames, LogChunk, LogCursor } from '@kiln/contracts';
import { closeOrdered, follow, lastSubjectSeq, orderedConsumer } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { compareCursor, CursorLine, linesOf, PositionedLine } from './log-cursor';
import { LogArchive } from './log-archive';
import { LogTail, TailHandlers, TailHub } from './tail-hub';

export type { CursorLine } from './log-cursor';
export type { LogTail, TailHandlers } from './tail-hub';

/** Bytes one pull of a history read asks for (more than the largest record). */
const READ_BATCH_BYTES = 2 * 1024 * 1024;

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

/** Collects one page of lines from records fed in log order. */
class PageBuilder {
  readonly lines: PositionedLine[] = [];
  end: { status: string } | null = null;
  private full = false;

  constructor(
    private readonly after: LogCursor | null,
    private readonly limit: number,
    private readonly step: number | undefined,
  ) {}

  /**
   * Feeds the record at `seq` (null: undecodable, skipped); false when the page is complete.
   * A page that fills up looks at one more record, so a log ending there reports its end.
   */
  add(seq: number, chunk: LogChunk | null): boolean {
    if (chunk?.kind === 'end') {
      this.end = { status: chunk.status };
      return false;
    }
    if (this.full) return false;
    if (chunk) {
      for (const p of linesOf(seq, chunk)) {
        if (compareCursor(p.pos, this.after) <= 0) continue;
        if (this.step !== undefined && p.line.step !== this.step) continue;
        if (this.full) return false;
        this.lines.push(p);
        this.full = this.lines.length >= this.limit;
      }
    }
    return true;
  }
}

/**
 * Reads a build's log: `history` is a bounded read of what exists now, `tail` the same
 * read that keeps following until the end record. Tails of one build share one live
 * consumer (see {@link TailHub}). Records come from the build's subject in the logs stream
 * or, once the log is archived (see {@link LogArchive}), from the archive for the part it
 * covers and from the stream after it — so reads go on unchanged, with the same cursors,
 * after the stream's copy has aged out or was purged.
 */
export class LogReader {
  private readonly hub: TailHub;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly names: KilnNames,
    private readonly log: Logger = new Logger('log-store'),
    private readonly archive: LogArchive | null = null,
  ) {
    this.hub = new TailHub({
      page: (buildId, after, limit) => this.read(buildId, after, limit),
      open: async (buildId, onRecord) => {
        // live records only: every watcher reads what exists through `page` (stream or archive)
        const stream = this.names.streams.logs;
        const subject = this.subjectOf(buildId);
        return follow(this.js, this.jsm, {
          stream,
          filter: subject,
          startSeq: (await lastSubjectSeq(this.jsm, stream, subject)) + 1,
          onMessage: (m) => onRecord(m.seq, this.decode(m)),
          onError: (e, m) => this.log.error('log tail delivery failed', { buildId, seq: m.seq, err: e as Error }),
        });
      },
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

  /** Like {@link tail}, with the hub's handlers (lines in batches) and a tail that can pause. */
  watch(buildId: string, after: LogCursor | null, handlers: TailHandlers): LogTail {
    this.subjectOf(buildId);
    return this.hub.watch(buildId, after, handlers);
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
   * `after` to `limit` lines or the last record that exists now — from the archive for the
   * sequences it covers, then from the stream.
   */
  private async read(buildId: string, after: LogCursor | null, limit: number, step?: number): Promise<{ lines: PositionedLine[]; end: { status: string } | null }> {
    const subject = this.subjectOf(buildId);
    const page = new PageBuilder(after, limit, step);
    let startSeq = after ? Math.max(after.seq, 1) : 1;
    const manifest = this.archive ? await this.archive.manifest(buildId) : null;
    if (manifest && startSeq <= manifest.lastSeq) {
      for await (const r of this.archive!.records(manifest, startSeq)) {
        if (!page.add(r.seq, r.chunk)) return page;
      }
      startSeq = manifest.lastSeq + 1;
    }
    await this.readStream(subject, startSeq, page);
    return page;
  }

  private async readStream(subject: string, startSeq: number, page: PageBuilder): Promise<void> {
    const stream = this.names.streams.logs;
    const untilSeq = await lastSubjectSeq(this.jsm, stream, subject);
    if (untilSeq < startSeq) return;
    const consumer = await orderedConsumer(this.js, stream, { filterSubjects: subject, opt_start_seq: startSeq });
    // bounded by bytes: a chunk can be up to 1 MiB, and a page needs only a few
    const messages = await consumer.consume({ max_bytes: READ_BATCH_BYTES });
    try {
      for await (const m of messages) {
        if (!page.add(m.seq, this.decode(m))) break;
        if (m.seq >= untilSeq || m.info.pending === 0) break;
      }
    } finally {
      await closeOrdered(messages, consumer);
    }
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
