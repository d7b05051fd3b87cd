import { LogChunk, LogCursor } from '@kiln/contracts';
import { compareCursor, CursorLine, linesOf, PositionedLine } from './log-cursor';

/** What the hub needs from the store: bounded reads of the past and one live read per build. */
export interface TailSource {
  /** Lines after `after` that exist now (at most `limit`), and the end status when the end record was reached. */
  page(buildId: string, after: LogCursor | null, limit: number): Promise<{ lines: PositionedLine[]; end: { status: string } | null }>;
  /**
   * Opens a live, ordered read of the build's records from stream sequence `startSeq`;
   * `onRecord` gets each record (null when it could not be decoded) and must not block.
   */
  open(buildId: string, startSeq: number, onRecord: (seq: number, chunk: LogChunk | null) => void): Promise<{ stop(): Promise<void> }>;
}

/** Callbacks of one watcher. They run synchronously in log order; a throw detaches the watcher. */
export interface TailHandlers {
  onLine(line: CursorLine): void;
  /** The build's end record arrived; no more calls follow. */
  onEnd(status: string): void;
  /** The read failed (or a handler threw); no more calls follow. */
  onError?(e: unknown): void;
}

/** A running tail. */
export interface LogTail {
  /** Detaches the watcher; resolves when the live read it held alone (if any) is closed. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once history up to the live edge has been delivered (or the tail ended). */
  readonly live: Promise<void>;
}

/** History is read in pages of this many lines while a watcher catches up. */
const CATCH_UP_PAGE = 1000;

interface Feed {
  readonly buildId: string;
  readonly startSeq: number;
  readonly watchers: Set<Watcher>;
  /** Last stream sequence the live read handed over (startSeq - 1 before the first). */
  processedSeq: number;
  /** Last line the live read handed over. */
  lastPos: LogCursor | null;
  following: Promise<{ stop(): Promise<void> }>;
  stopping: Promise<void> | null;
}

interface Watcher {
  readonly feed: Feed;
  readonly handlers: TailHandlers;
  /** Last line delivered to this watcher: every later line is delivered once, in order. */
  after: LogCursor | null;
  mode: 'catching-up' | 'live' | 'done';
  /** Live lines that arrived while catching up; de-duplicated against history by cursor. */
  buffer: PositionedLine[];
  bufferedEnd: string | null;
  markLive(): void;
}

/**
 * One live read per build, multicast to every watcher of that build.
 *
 * The first watcher opens the live read at its own cursor. A later watcher whose cursor is
 * at or past what the live read has handed over joins it directly; one further behind
 * buffers live lines while it reads the history in pages, then delivers the buffer past
 * the last history line and joins. Positions are compared by cursor, so a watcher sees
 * every line once, in order, whichever way the line reached it. The last watcher leaving
 * closes the live read; the end record ends every watcher and closes it too.
 */
export class TailHub {
  private readonly feeds = new Map<string, Feed>();

  constructor(private readonly source: TailSource) {}

  /** Starts delivering the build's lines after `after` (null: from the first line) to `handlers`. */
  watch(buildId: string, after: LogCursor | null, handlers: TailHandlers): LogTail {
    let markLive!: () => void;
    const live = new Promise<void>((r) => (markLive = r));
    let feed = this.feeds.get(buildId);
    let mode: Watcher['mode'] = 'live';
    if (!feed) {
      feed = this.openFeed(buildId, after ? Math.max(after.seq, 1) : 1);
    } else if (!this.canJoin(feed, after)) {
      mode = 'catching-up';
    }
    const w: Watcher = { feed, handlers, after, mode, buffer: [], bufferedEnd: null, markLive };
    feed.watchers.add(w);
    if (mode === 'live') markLive();
    else void this.catchUp(w);
    return {
      live,
      stop: async () => {
        this.detach(w);
        await w.feed.stopping;
      },
    };
  }

  /** Live reads and watchers now open. */
  stats(): { feeds: number; watchers: number } {
    let watchers = 0;
    for (const f of this.feeds.values()) watchers += f.watchers.size;
    return { feeds: this.feeds.size, watchers };
  }

  /** Detaches every watcher (without calling them) and closes every live read. */
  async close(): Promise<void> {
    const feeds = [...this.feeds.values()];
    for (const f of feeds) for (const w of [...f.watchers]) this.detach(w);
    await Promise.all(feeds.map((f) => f.stopping));
  }

  /** Whether every line after `after` is still ahead of the feed. */
  private canJoin(feed: Feed, after: LogCursor | null): boolean {
    const neededSeq = after ? after.seq : 1;
    if (neededSeq > feed.processedSeq) return true;
    return feed.lastPos !== null && compareCursor(after, feed.lastPos) >= 0;
  }

  private openFeed(buildId: string, startSeq: number): Feed {
    const feed: Feed = {
      buildId,
      startSeq,
      watchers: new Set(),
      processedSeq: startSeq - 1,
      lastPos: null,
      following: null!,
      stopping: null,
    };
    feed.following = this.source.open(buildId, startSeq, (seq, chunk) => this.onRecord(feed, seq, chunk));
    feed.following.catch((e) => {
      for (const w of [...feed.watchers]) this.fail(w, e);
    });
    this.feeds.set(buildId, feed);
    return feed;
  }

  private onRecord(feed: Feed, seq: number, chunk: LogChunk | null): void {
    if (feed.stopping) return;
    feed.processedSeq = seq;
    if (!chunk) return;
    if (chunk.kind === 'end') {
      this.closeFeed(feed);
      for (const w of [...feed.watchers]) {
        if (w.mode === 'live') this.finish(w, chunk.status);
        else w.bufferedEnd = chunk.status;
      }
      return;
    }
    const lines = linesOf(seq, chunk);
    feed.lastPos = lines[lines.length - 1].pos;
    for (const w of [...feed.watchers]) {
      if (w.mode === 'live') this.deliver(w, lines);
      else if (w.mode === 'catching-up') w.buffer.push(...lines);
    }
  }

  private async catchUp(w: Watcher): Promise<void> {
    try {
      for (;;) {
        const page = await this.source.page(w.feed.buildId, w.after, CATCH_UP_PAGE);
        if (isDone(w)) return;
        this.deliver(w, page.lines);
        if (isDone(w)) return;
        if (page.end) return this.finish(w, page.end.status);
        if (page.lines.length < CATCH_UP_PAGE) break;
      }
      const buffered = w.buffer;
      w.buffer = [];
      this.deliver(w, buffered);
      if (w.bufferedEnd !== null) return this.finish(w, w.bufferedEnd);
      if (isDone(w)) return;
      w.mode = 'live';
      w.markLive();
    } catch (e) {
      this.fail(w, e);
    }
  }

  /** Hands the lines past the watcher's position to it, in order. */
  private deliver(w: Watcher, lines: PositionedLine[]): void {
    for (const p of lines) {
      if (w.mode === 'done') return;
      if (compareCursor(p.pos, w.after) <= 0) continue;
      w.after = p.pos;
      try {
        w.handlers.onLine(p.line);
      } catch (e) {
        this.fail(w, e);
      }
    }
  }

  private finish(w: Watcher, status: string): void {
    if (w.mode === 'done') return;
    this.detach(w);
    try {
      w.handlers.onEnd(status);
    } catch {
      // the watcher is gone either way
    }
  }

  private fail(w: Watcher, e: unknown): void {
    if (w.mode === 'done') return;
    this.detach(w);
    try {
      w.handlers.onError?.(e);
    } catch {
      // the watcher is gone either way
    }
  }

  private detach(w: Watcher): void {
    if (w.mode === 'done') return;
    w.mode = 'done';
    w.buffer = [];
    w.markLive();
    w.feed.watchers.delete(w);
    if (w.feed.watchers.size === 0) this.closeFeed(w.feed);
  }

  /** Stops the feed's live read without waiting (it may be inside its own callback). */
  private closeFeed(feed: Feed): void {
    if (this.feeds.get(feed.buildId) === feed) this.feeds.delete(feed.buildId);
    if (feed.stopping) return;
    feed.stopping = feed.following.then(
      (f) => f.stop(),
      () => undefined,
    );
  }
}

/** Read through a call: a handler may have detached the watcher since the last check. */
function isDone(w: Watcher): boolean {
  return w.mode === 'done';
}
