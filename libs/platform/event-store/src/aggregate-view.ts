import { idFromSubject, Recorded } from '@kiln/contracts';
import { Aggregate, EventStore } from './event-store';
import { follow, Following } from './follow';

/**
 * An in-memory read of every aggregate in one stream, kept live: replays the stream on
 * start, then follows it. Services that react to the whole population (the scheduler's
 * queue, the pool, ingest's project lookup) hold one; the stream stays the truth, so a
 * restarted service rebuilds exactly what it had.
 */
export class AggregateView<S, C, E extends { type: string; data: unknown }> {
  readonly states = new Map<string, S>();
  /** Last stream sequence of each aggregate's subject, as applied here. */
  readonly seqs = new Map<string, number>();
  /** Trace context of each aggregate's first event: work on it joins that trace. */
  readonly traces = new Map<string, string>();
  /** Last stream sequence applied. */
  lastSeq = 0;
  private following: Following | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly store: EventStore,
    private readonly agg: Aggregate<S, C, E>,
    private readonly filter: string,
    private readonly hooks: {
      /** After an event was applied; `live` is false during the initial replay. */
      onEvent?: (id: string, state: S, event: Recorded<E>, live: boolean) => void;
      onCaughtUp?: () => void;
      onError?: (e: unknown) => void;
      /**
       * Drops aggregates the reader no longer needs (e.g. finished builds), so a
       * long-running service's memory follows the live population, not all history.
       * Evaluated after the `onEvent` hook.
       */
      evict?: (state: S) => boolean;
    } = {},
  ) {}

  /** Resolves when the stream's history has been applied. */
  async start(): Promise<void> {
    let live = false;
    this.following = await follow(this.store.js, this.store.jsm, {
      stream: this.agg.stream,
      filter: this.filter,
      onMessage: (m) => {
        const id = idFromSubject(m.subject);
        if (m.seq <= (this.seqs.get(id) ?? 0)) {
          // this process's own write, applied when it was appended (see applyOwn)
          this.lastSeq = m.seq;
          for (const w of [...this.waiters]) w();
          return;
        }
        const event = this.agg.codec.decode(m.data, m.seq, m.subject);
        const state = this.agg.decider.evolve(this.states.get(id) ?? this.agg.decider.initialState(), event);
        this.states.set(id, state);
        this.seqs.set(id, m.seq);
        if (!this.traces.has(id) && event.meta.traceparent) this.traces.set(id, event.meta.traceparent);
        this.lastSeq = m.seq;
        this.hooks.onEvent?.(id, state, event, live);
        if (this.hooks.evict?.(state)) {
          this.states.delete(id);
          this.seqs.delete(id);
          this.traces.delete(id);
        }
        for (const w of [...this.waiters]) w();
      },
      onCaughtUp: () => {
        live = true;
        this.hooks.onCaughtUp?.();
      },
      onError: (e, m) => {
        this.lastSeq = Math.max(this.lastSeq, m.seq);
        this.hooks.onError?.(e);
      },
    });
    await this.following.caughtUp;
  }

  /**
   * Applies this process's own write (the state and last sequence `EventStore.handle`
   * returned) before the stream delivers it back: the reader acts on what it just decided
   * without waiting a round trip through its own consumer. The delivered events up to that
   * sequence are then skipped; a state older than what the view has is ignored. No hook
   * runs for it (the writer knows what it wrote).
   */
  applyOwn(id: string, state: S, lastSeq: number): void {
    if (lastSeq <= (this.seqs.get(id) ?? 0) || !this.states.has(id)) return;
    this.states.set(id, state);
    this.seqs.set(id, lastSeq);
  }

  /** What this view knows of one aggregate, for `EventStore.handle(..., { known })`. */
  known(id: string): { state: S; lastSeq: number } | undefined {
    const state = this.states.get(id);
    const lastSeq = this.seqs.get(id);
    return state === undefined || lastSeq === undefined ? undefined : { state, lastSeq };
  }

  /**
   * Waits until every event appended before this call has been applied (read-your-writes
   * for a reader that just learned of a write elsewhere). Resolves false on timeout.
   */
  async sync(timeoutMs = 2000): Promise<boolean> {
    const target = (await this.store.jsm.streams.info(this.agg.stream)).state.last_seq;
    return this.waitForSeq(target, timeoutMs);
  }

  waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.lastSeq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (this.lastSeq >= seq) done(true);
      };
      const timer = setTimeout(() => done(this.lastSeq >= seq), timeoutMs);
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    await this.following?.stop();
    this.following = null;
  }
}
