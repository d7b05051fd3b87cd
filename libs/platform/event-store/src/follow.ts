import { JetStreamClient, JetStreamManager, JsMsg } from 'nats';
import { lastSubjectSeq } from './read';
import { closeOrdered, orderedConsumer } from './ordered-consumer';

export interface FollowOptions {
  stream: string;
  /**
   * Subject filter. A subject with a wildcard must cover the whole stream (catch-up is
   * measured against the stream's last sequence); an exact subject is measured against
   * its own last sequence.
   */
  filter: string;
  /** First stream sequence to deliver (default 1: everything). */
  startSeq?: number;
  /** Called once per message, in stream order; the next waits for it. */
  onMessage(m: JsMsg): Promise<void> | void;
  /** Called once, when every message that existed at start has been handled. */
  onCaughtUp?(): Promise<void> | void;
  /** Called when the handler throws; following goes on with the next message. */
  onError?(e: unknown, m: JsMsg): void;
}

export interface Following {
  /** Resolves when the messages present at start have been handled. */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Follows a stream (or one subject) with an ordered consumer: replays history, then keeps
 * delivering new messages as they are appended. No server-side state: the caller owns the
 * position. The client re-creates the consumer after a reconnect or a gap.
 */
export async function follow(js: JetStreamClient, jsm: JetStreamManager, opts: FollowOptions): Promise<Following> {
  const startSeq = opts.startSeq ?? 1;
  // where history ends, asked while the consumer is set up (both are round trips to the server)
  const until = opts.filter.includes('*') || opts.filter.includes('>')
    ? jsm.streams.info(opts.stream).then((i) => i.state.last_seq)
    : lastSubjectSeq(jsm, opts.stream, opts.filter);
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (resolveCaughtUp = r));
  let isCaughtUp = false;
  const markCaughtUp = async () => {
    if (isCaughtUp) return;
    isCaughtUp = true;
    await opts.onCaughtUp?.();
    resolveCaughtUp();
  };
  const [untilSeq, consumer] = await Promise.all([until, orderedConsumer(js, opts.stream, { filterSubjects: opts.filter, opt_start_seq: startSeq })]);
  const messages = await consumer.consume({ max_messages: 512 });
  let stopped = false;
  const loop = (async () => {
    if (untilSeq < startSeq) await markCaughtUp();
    for await (const m of messages) {
      if (stopped) break;
      try {
        await opts.onMessage(m);
      } catch (e) {
        opts.onError?.(e, m);
      }
      if (!isCaughtUp && (m.seq >= untilSeq || m.info.pending === 0)) await markCaughtUp();
    }
  })();
  return {
    caughtUp,
    async stop() {
      stopped = true;
      await closeOrdered(messages, consumer);
      await loop.catch(() => undefined);
    },
  };
}

/** Resolves once, when `predicate` holds; used by readers that must see their own writes. */
export function waitFor(predicate: () => boolean, subscribe: (wake: () => void) => () => void, timeoutMs: number): Promise<boolean> {
  if (predicate()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(predicate());
    }, timeoutMs);
    const unsubscribe = subscribe(() => {
      if (predicate()) {
        clearTimeout(timer);
        unsubscribe();
        resolve(true);
      }
    });
  });
}
