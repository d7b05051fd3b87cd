import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, JetStreamClient, JetStreamManager, NatsConnection, NatsError } from 'nats';
import { Attr, ConcurrencyError,
  Envelope,
  EventCodec,
  Headers,
  IllegalStateError,
  InvalidError,
  KilnError,
  KilnNames,
  Recorded, } from '@kiln/contracts';
import { Decider } from '@kiln/domain';
import { currentTraceparent, inSpan } from '@kiln/telemetry';
import { lastSubjectSeq, readAggregateSubject } from './read';

/** What a caller says about the cause of the events it appends. */
export interface CausationInput {
  /** Shared by every message of one flow (a build's id is a good one). */
  correlationId: string;
  /** The message or command that caused these events. */
  causationId?: string;
  /** Id of the command; event `i` gets Msg-Id `<commandId>:<i>` so a retried append is dropped. */
  commandId?: string;
  /** Trace context to carry; defaults to the active span's. */
  traceparent?: string;
  /** Event time; defaults to now. */
  occurredAt?: string;
}

export interface AppendOptions extends CausationInput {
  /** Expected last sequence of the subject (0: the subject must be empty); null skips the check. */
  expectedLastSeq: number | null;
}

export interface Loaded<S, E extends { type: string; data: unknown }> {
  state: S;
  events: Recorded<E>[];
  /** Last stream sequence of the subject (0 when empty). */
  lastSeq: number;
}

export interface Aggregate<S, C, E extends { type: string; data: unknown }> {
  readonly decider: Decider<S, C, E>;
  readonly codec: EventCodec<E>;
  readonly stream: string;
}

export interface HandleResult<S, E> {
  state: S;
  /** Events appended by this call (empty when the command changed nothing). */
  appended: E[];
  lastSeq: number;
}

const WRONG_LAST_SEQUENCE = 10071;

/**
 * The event store on JetStream: one subject per aggregate instance; appends guarded by
 * `Nats-Expected-Last-Subject-Sequence` and de-duplicated by `Nats-Msg-Id`.
 *
 * It keeps a small cache of the state it last wrote per subject: a process that owns an
 * aggregate for a while (an agent running a build) decides on cached state and appends
 * with the cached sequence; if anyone else wrote meanwhile, JetStream rejects the append
 * and the store reloads and decides again. Stale state can cost a retry, never a wrong write.
 */
export class EventStore {
  readonly js: JetStreamClient;
  private readonly cache = new Map<string, { state: unknown; lastSeq: number }>();
  private static readonly CACHE_MAX = 2000;

  constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly names: KilnNames,
  ) {
    this.js = nc.jetstream();
  }

  static async create(nc: NatsConnection, names: KilnNames): Promise<EventStore> {
    return new EventStore(nc, await nc.jetstreamManager(), names);
  }

  /** Reads and decodes every event of one aggregate subject. */
  async load<S, C, E extends { type: string; data: unknown }>(agg: Aggregate<S, C, E>, subject: string): Promise<Loaded<S, E>> {
    return inSpan('eventstore.load', { 'messaging.destination.name': subject }, async () => {
      const lastSeq = await lastSubjectSeq(this.jsm, agg.stream, subject);
      const msgs = await readAggregateSubject(this.js, this.jsm, agg.stream, subject, lastSeq);
      const events = msgs.map((m) => agg.codec.decode(m.data, m.seq, m.subject));
      const state = events.reduce((s, e) => agg.decider.evolve(s, e), agg.decider.initialState());
      return { state, events, lastSeq: msgs.length ? msgs[msgs.length - 1].seq : lastSeq };
    });
  }

  /**
   * Appends events to a subject; returns the sequence of the last one, and whether
   * JetStream dropped the publish as a duplicate Msg-Id (a retried or repeated append).
   */
  async append<E extends { type: string; data: unknown }>(
    codec: EventCodec<E>,
    subject: string,
    events: readonly E[],
    opts: AppendOptions,
  ): Promise<{ seq: number; duplicate: boolean }> {
    let expected = opts.expectedLastSeq;
    let seq = expected ?? 0;
    let duplicate = false;
    const commandId = opts.commandId ?? randomUUID();
    const traceparent = opts.traceparent ?? currentTraceparent();
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      const def = codec.validate(ev);
      const eventId = events.length === 1 ? commandId : `${commandId}:${i}`;
      const env: Envelope = {
        type: ev.type,
        version: def.version,
        data: ev.data,
        meta: {
          eventId,
          correlationId: opts.correlationId,
          causationId: opts.causationId,
          traceparent,
          occurredAt: opts.occurredAt ?? new Date().toISOString(),
        },
      };
      const h = natsHeaders();
      h.set(Headers.type, ev.type);
      h.set(Headers.version, String(def.version));
      if (traceparent) h.set(Headers.traceparent, traceparent);
      try {
        const ack = await inSpan(
          'eventstore.append',
          { 'messaging.destination.name': subject, [Attr.eventType]: ev.type },
          () =>
            publishWithRetry(() =>
              this.js.publish(subject, Buffer.from(JSON.stringify(env)), {
                msgID: eventId,
                headers: h,
                expect: expected === null ? {} : { lastSubjectSequence: expected },
              }),
            ),
        );
        seq = ack.seq;
        duplicate = ack.duplicate;
        if (expected !== null) expected = ack.seq;
      } catch (e) {
        if (isWrongLastSequence(e)) {
          throw new ConcurrencyError(`stale append to ${subject}: expected last sequence ${expected}`, { cause: e });
        }
        throw e;
      }
    }
    return { seq, duplicate };
  }

  /**
   * The one generic command handler: load (or take from cache) the aggregate, decide,
   * append with the expected last sequence, retry on a concurrency conflict. A decision
   * taken on cached state that rejects the command or changes nothing is re-taken on
   * fresh state before it is believed.
   * Domain errors (IllegalState, Invalid, NotFound) are thrown to the caller unchanged.
   */
  async handle<S, C, E extends { type: string; data: unknown }>(
    agg: Aggregate<S, C, E>,
    subject: string,
    command: C,
    cause: CausationInput,
    opts: {
      retries?: number;
      /**
       * State and last sequence the caller already holds (e.g. from an AggregateView):
       * used instead of a read, like the cache; a stale one costs a retry, never a wrong write.
       */
      known?: { state: S; lastSeq: number };
    } = {},
  ): Promise<HandleResult<S, E>> {
    const retries = opts.retries ?? 5;
    if (opts.known) {
      const cached = this.cache.get(subject);
      if (!cached || cached.lastSeq < opts.known.lastSeq) this.remember(subject, opts.known.state, opts.known.lastSeq);
    }
    const commandId = cause.commandId ?? randomUUID();
    const type = (command as { type?: string }).type ?? 'command';
    return inSpan('eventstore.handle', { 'messaging.destination.name': subject, [Attr.commandType]: type }, async () => {
      let useCache = true;
      for (let attempt = 0; ; attempt++) {
        const cached = useCache ? (this.cache.get(subject) as { state: S; lastSeq: number } | undefined) : undefined;
        const current = cached ?? (await this.load(agg, subject));
        let events: E[];
        try {
          events = agg.decider.decide(command, current.state);
        } catch (e) {
          // cached state may be stale: a rejection must be re-checked against the stream
          if (cached) {
            this.cache.delete(subject);
            useCache = false;
            attempt--;
            continue;
          }
          throw e;
        }
        if (events.length === 0 && cached) {
          // "nothing to do" on cached state may also be stale; confirm on fresh state
          this.cache.delete(subject);
          useCache = false;
          attempt--;
          continue;
        }
        if (events.length === 0) return { state: current.state, appended: [], lastSeq: current.lastSeq };
        try {
          const { seq: lastSeq } = await this.append(agg.codec, subject, events, {
            ...cause,
            commandId: attempt === 0 ? commandId : `${commandId}-r${attempt}`,
            expectedLastSeq: current.lastSeq,
          });
          const state = events.reduce((s, e) => agg.decider.evolve(s, e), current.state);
          this.remember(subject, state, lastSeq);
          return { state, appended: events, lastSeq };
        } catch (e) {
          if (e instanceof ConcurrencyError && attempt < retries) {
            this.cache.delete(subject);
            useCache = false;
            continue;
          }
          throw e;
        }
      }
    });
  }

  /** Forgets cached state (e.g. when another process is known to have written). */
  forget(subject: string): void {
    this.cache.delete(subject);
  }

  private remember(subject: string, state: unknown, lastSeq: number): void {
    this.cache.delete(subject);
    this.cache.set(subject, { state, lastSeq });
    if (this.cache.size > EventStore.CACHE_MAX) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }
}

/**
 * Retries a publish while JetStream is briefly unavailable (a broker restart: no
 * responders, timeouts) for up to `budgetMs`. Safe because every append carries a
 * Msg-Id: a publish that did land before its ack was lost is dropped as a duplicate.
 */
export async function publishWithRetry<T>(publish: () => Promise<T>, budgetMs = 10_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await publish();
    } catch (e) {
      if (!isUnavailable(e) || Date.now() + delay > deadline) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * NATS/JetStream is down or restarting (not a rejection of the message). Decided on the
 * error's code, and on its text only for words: a rejection's text can hold numbers, and
 * "wrong last sequence: 503" once read as a 503 made a plain conflict retry for 10 s.
 */
export function isUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (isWrongLastSequence(e)) return false;
  return err?.code === '503' || err?.code === 'TIMEOUT' || err?.code === 'CONNECTION_CLOSED' || err?.code === 'DISCONNECT' || /timeout|no responders|jetstream not enabled/i.test(err?.message ?? '');
}

export function isWrongLastSequence(e: unknown): boolean {
  const err = e as NatsError & { api_error?: { err_code?: number } };
  return err?.api_error?.err_code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(err?.message ?? '');
}

/** Whether an error means "do not retry this message" (poison) rather than "try later". */
export function isPermanent(e: unknown): boolean {
  return e instanceof InvalidError || e instanceof IllegalStateError || (e instanceof KilnError && e.code === 'NOT_FOUND');
}
