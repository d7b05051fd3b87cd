import { LogChunk, LogCursor } from '@kiln/contracts';
import { compareCursor, CursorLine, linesOf, PositionedLine } from './log-cursor';

/** What the hub needs from the store: bounded reads of the past and one live read per build. */
export interface TailSource {
  /** Lines after `after` that exist now (at most `limit`), and the end status when the end record was reached. */
  page(buildId: string, after: LogCursor | null, limit: number): Promise<{ lines: PositionedLine[]; end: { status: string } | null }>;
  /**
   * Opens a live, ordered read of the build's records appended from now on (what exists
   * already is read through `page`); `onRecord` gets each record (null when it could not
   * be decoded) and must not block.
   */
  open(buildId: string, onRecord: (seq: number, chunk: LogChunk | null) => void): Promise<{ stop(): Promise<void> }>;
}

/**
 * Callbacks of one watcher. They run synchronously in log order; a throw detaches the
 * watcher. Give `onLines` (lines handed over together, e.g. a record's worth) or `onLine`.
 */
export interface TailHandlers {
  onLine?(line: CursorLine): void;
  onLines?(lines: CursorLine[]): void;
  /** The build's end record arrived; no more calls follow. */
  onEnd(status: string): void;
  /** The read failed (or a handler threw); no more calls follow. */
  onError?(e: unknown): void;
}

/** A running tail. */
export interface LogTail {
  /** Detaches the watcher; resolves when the live read it held alone (if any) is closed. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops handing lines over (e.g. while a slow client's socket drains) without leaving:
   * `resume()` goes on after the last line handed over, from the shared window of recent
   * lines when it still holds them, else from the store.
   */
  pause(): void;
  resume(): void;
  /** Resolves once history up to the live edge has been delivered (or the tail ended). */
  readonly live: Promise<void>;
}

/** History is read in pages of this many lines while a watcher catches up. */
const CATCH_UP_PAGE = 1000;

/**
 * Each live read keeps its most recent lines (up to this many bytes of text), so a watcher
 * a little behind — one that joins late, or a slow client resuming after a pause — catches
 * up from memory shared by all watchers instead of reading the store again.
 */
const RECENT_WINDOW_BYTES = 4 * 1024 * 1024;

/** Page reads of the store running at once across all watchers (many resuming together queue). */
const MAX_CONCURRENT_PAGE_READS = 8;

interface Feed {
  readonly buildId: string;
  readonly watchers: Set<Watcher>;
  /** Last line the live read handed over. */
  lastPos: LogCursor | null;
  /** The latest lines the live read handed over, oldest first (bounded by RECENT_WINDOW_BYTES). */
  recent: PositionedLine[];
  /** Index of the oldest line of `recent` still in the window (evicted ones are spliced out in bulk). */
  recentStart: number;
  recentBytes: number;
  following: Promise<{ stop(): Promise<void> }>;
  stopping: Promise<void> | null;
}

interface Watcher {
  readonly feed: Feed;
  readonly handlers: TailHandlers;
  /** Last line delivered to this watcher: every later line is delivered once, in order. */
  after: LogCursor | null;
  mode: 'catching-up' | 'live' | 'paused' | 'done';
  /** Bumped by each catch-up run, so a run overtaken by a pause and resume stops. */
  generation: number;
  /** Live lines that arrived while catching up; de-duplicated against history by cursor. */
  buffer: PositionedLine[];
  bufferedEnd: string | null;
  markLive(): void;
}

/**
 * One live read per build, multicast to every watcher of that build.
 *
 * The first watcher opens the live read at the end of what exists. A watcher whose cursor
 * is at or past the last line the live read handed over joins it directly; any other
 * buffers live lines while it reads what exists in pages (from the stream or the archive,
 * whichever holds it), then delivers the buffer past the last page line and joins.
 * Positions are compared by cursor, so a watcher sees every line once, in order, whichever
 * way the line reached it. The last watcher leaving closes the live read; the end record
 * (live, or found by the page read of a finished log) ends the watcher.
 */
export class TailHub {
  private readonly feeds = new Map<string, Feed>();
  private pageReads = 0;
  private readonly pageQueue: (() => void)[] = [];

  constructor(private readonly source: TailSource) {}

  /** Starts delivering the build's lines after `after` (null: from the first line) to `handlers`. */
  watch(buildId: string, after: LogCursor | null, handlers: TailHandlers): LogTail {
    let markLive!: () => void;
    const live = new Promise<void>((r) => (markLive = r));
    const feed = this.feeds.get(buildId) ?? this.openFeed(buildId);
    const mode: Watcher['mode'] = this.canJoin(feed, after) ? 'live' : 'catching-up';
    const w: Watcher = { feed, handlers, after, mode, generation: 0, buffer: [], bufferedEnd: null, markLive };
    feed.watchers.add(w);
    if (mode === 'live') markLive();
    else void this.catchUp(w);
    return {
      live,
      stop: async () => {
        this.detach(w);
        await w.feed.stopping;
      },
      pause: () => {
        if (w.mode !== 'live' && w.mode !== 'catching-up') return;
        w.mode = 'paused';
        w.buffer = [];
      },
      resume: () => {
        if (w.mode !== 'paused') return;
        w.mode = 'catching-up';
        void this.catchUp(w);
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
    return feed.lastPos !== null && compareCursor(after, feed.lastPos) >= 0;
  }

  private openFeed(buildId: string): Feed {
    const feed: Feed = {
      buildId,
      watchers: new Set(),
      lastPos: null,
      recent: [],
      recentStart: 0,
      recentBytes: 0,
      following: null!,
      stopping: null,
    };
    feed.following = this.source.open(buildId, (seq, chunk) => this.onRecord(feed, seq, chunk));
    feed.following.catch((e) => {
      for (const w of [...feed.watchers]) this.fail(w, e);
    });
    this.feeds.set(buildId, feed);
    return feed;
  }

  private onRecord(feed: Feed, seq: number, chunk: LogChunk | null): void {
    if (feed.stopping) return;
    if (!chunk) return;
    if (chunk.kind === 'end') {
      this.closeFeed(feed);
      for (const w of [...feed.watchers]) {
        if (w.mode === 'live') this.finish(w, chunk.status);
        else w.bufferedEnd = chunk.status; // catching up or paused: it ends once it has the rest
      }
      return;
    }
    const lines = linesOf(seq, chunk);
    feed.lastPos = lines[lines.length - 1].pos;
    this.remember(feed, lines);
    for (const w of [...feed.watchers]) {
      if (w.mode === 'live') this.deliver(w, lines);
      else if (w.mode === 'catching-up') w.buffer.push(...lines);
    }
  }

  /** Adds lines to the feed's window of recent lines, dropping the oldest beyond its size. */
  private remember(feed: Feed, lines: PositionedLine[]): void {
    for (const p of lines) {
      feed.recent.push(p);
      feed.recentBytes += p.line.text.length + 64;
    }
    while (feed.recentBytes > RECENT_WINDOW_BYTES && feed.recentStart < feed.recent.length - 1) {
      feed.recentBytes -= feed.recent[feed.recentStart].line.text.length + 64;
      feed.recentStart++;
    }
    if (feed.recentStart > 4096 && feed.recentStart * 2 > feed.recent.length) {
      feed.recent.splice(0, feed.recentStart);
      feed.recentStart = 0;
    }
  }

  /** The window's lines after `after`, when the window holds every line after it; else null. */
  private replay(feed: Feed, after: LogCursor | null): PositionedLine[] | null {
    const first = feed.recent[feed.recentStart];
    if (!first || after === null || compareCursor(after, first.pos) < 0) return null;
    let lo = feed.recentStart;
    let hi = feed.recent.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCursor(feed.recent[mid].pos, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return feed.recent.slice(lo);
  }

  private async catchUp(w: Watcher): Promise<void> {
    const generation = ++w.generation;
    const current = () => w.generation === generation && w.mode === 'catching-up';
    try {
      // pages must reach past the point where the live read starts, or a record appended
      // in between would be in neither
      await w.feed.following;
      if (!current()) return;
      const recent = this.replay(w.feed, w.after);
      if (recent) {
        // a little behind: the shared window has every line it missed
        this.deliver(w, recent);
        if (current()) this.goLive(w);
        return;
      }
      for (;;) {
        const page = await this.readPage(w.feed.buildId, w.after);
        if (!current()) return;
        this.deliver(w, page.lines);
        if (!current()) return;
        if (page.end) return this.finish(w, page.end.status);
        if (page.lines.length < CATCH_UP_PAGE) break;
      }
      this.goLive(w);
    } catch (e) {
      if (w.generation === generation) this.fail(w, e);
    }
  }

  /** One page from the store, at most MAX_CONCURRENT_PAGE_READS at a time. */
  private async readPage(buildId: string, after: LogCursor | null): Promise<{ lines: PositionedLine[]; end: { status: string } | null }> {
    if (this.pageReads >= MAX_CONCURRENT_PAGE_READS) await new Promise<void>((r) => this.pageQueue.push(r));
    this.pageReads++;
    try {
      return await this.source.page(buildId, after, CATCH_UP_PAGE);
    } finally {
      this.pageReads--;
      this.pageQueue.shift()?.();
    }
  }

  /** Delivers what arrived live meanwhile, then switches the watcher to the live read. */
  private goLive(w: Watcher): void {
    const buffered = w.buffer;
    w.buffer = [];
    this.deliver(w, buffered);
    if (w.mode !== 'catching-up') return;
    if (w.bufferedEnd !== null) return this.finish(w, w.bufferedEnd);
    w.mode = 'live';
    w.markLive();
  }

  /** Hands the lines past the watcher's position to it, in order (the lines are in log order). */
  private deliver(w: Watcher, lines: PositionedLine[]): void {
    let i = 0;
    while (i < lines.length && compareCursor(lines[i].pos, w.after) <= 0) i++;
    if (i === lines.length) return;
    const { onLines, onLine } = w.handlers;
    if (onLines) {
      const batch = new Array<CursorLine>(lines.length - i);
      for (let k = i; k < lines.length; k++) batch[k - i] = lines[k].line;
      w.after = lines[lines.length - 1].pos;
      try {
        onLines(batch);
      } catch (e) {
        this.fail(w, e);
      }
      return;
    }
    for (; i < lines.length; i++) {
      if (w.mode !== 'live' && w.mode !== 'catching-up') return;
      w.after = lines[i].pos;
      try {
        onLine?.(lines[i].line);
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
