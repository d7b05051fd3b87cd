import { CustomTransportStrategy, Server, BaseRpcContext } from '@nestjs/microservices';
import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, JsMsg, NatsConnection, nanos, ConsumerMessages } from 'nats';
import { isObservable, lastValueFrom, Observable, throwError } from 'rxjs';
import { Attr, InvalidError, KilnError } from '@kiln/contracts';
import { contextFromTraceparent, inSpan, Logger, SpanKind } from '@kiln/telemetry';
import { isPermanent } from '@kiln/event-store';

/**
 * One `@EventPattern(key)` = one durable JetStream consumer. The route says which stream,
 * which subjects and how to decode a message; the handler gets the decoded event and a
 * `JetStreamContext`, and the message is acked only after the handler's promise resolved
 * (its effect is durable). Errors map in one place: a malformed message or a permanent
 * domain error → `term()` with the reason logged; anything else → `nak(delay)`.
 */
export interface JetStreamRoute {
  stream: string;
  /** One subject filter (NATS 2.9 has no multi-filter consumers). */
  filter: string;
  /** Durable consumer name, shared by all replicas of the service. */
  durable: string;
  /** Decodes a message; throws InvalidError for a poison message. */
  decode(msg: JsMsg): unknown;
  /**
   * Whether the handler wants this message at all, judged from its headers or size before it
   * is decoded (e.g. by the `Kiln-Type` header). One it does not want is acked at once: no
   * decode, no span, no handler. Default: every message.
   */
  wants?(msg: JsMsg): boolean;
  /**
   * First stream sequence for a new consumer (default 1). A projection returns its
   * checkpoint + 1; when `resetWhenAhead` is set and the existing consumer already acked
   * beyond that (the read model was dropped), the consumer is re-created from there.
   */
  startSeq?: () => Promise<number>;
  resetWhenAhead?: boolean;
  /**
   * Redelivery delay after a retryable failure (default 500 ms): a fixed number, or chosen
   * per failure from how often the message was delivered (1 on the first) and the error, for
   * a backoff or a remote host's `Retry-After`.
   */
  retryDelayMs?: number | ((deliveryCount: number, error: unknown) => number);
  /**
   * Strictly in stream order (a projection with a checkpoint): one message in flight across
   * all replicas, and a retryable failure is retried in place, the consumer waiting, instead
   * of nak'd and passed by later messages, which would move the checkpoint past it.
   */
  inOrder?: boolean;
}

/** Pause before the n-th retry in place of an in-order route (1-based): 250 ms doubling to 5 s. */
export const inPlaceRetryDelayMs = (n: number): number => Math.min(5000, 250 * 2 ** (n - 1));

export class JetStreamContext extends BaseRpcContext<[JsMsg]> {
  constructor(readonly msg: JsMsg) {
    super([msg]);
  }
  get seq(): number {
    return this.msg.seq;
  }
  get subject(): string {
    return this.msg.subject;
  }
}

/** Lets handler errors reach the transport with their class (Nest would turn them into plain objects). */
@Catch()
export class PassThroughRpcErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}

export class JetStreamServer extends Server implements CustomTransportStrategy {
  private readonly running: { messages: ConsumerMessages; loop: Promise<void> }[] = [];
  private closing = false;

  constructor(
    private readonly opts: {
      connection: () => NatsConnection;
      routes: Record<string, JetStreamRoute>;
      log: Logger;
    },
  ) {
    super();
  }

  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    this.start()
      .then(() => callback())
      .catch((e) => callback(e));
  }

  private async start(): Promise<void> {
    const nc = this.opts.connection();
    const jsm = await nc.jetstreamManager();
    const js = nc.jetstream();
    for (const pattern of this.getHandlers().keys()) {
      const route = this.opts.routes[pattern];
      if (!route) throw new Error(`@EventPattern("${pattern}") names no JetStream route; known: ${Object.keys(this.opts.routes).join(', ')}`);
      await this.ensureConsumer(jsm, route);
      const consumer = await js.consumers.get(route.stream, route.durable);
      const messages = await consumer.consume({ max_messages: 256 });
      const loop = this.run(pattern, route, messages);
      this.running.push({ messages, loop });
    }
  }

  private async ensureConsumer(jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>, route: JetStreamRoute): Promise<void> {
    const start = route.startSeq ? await route.startSeq() : 1;
    const config = {
      durable_name: route.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: start <= 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
      ...(start > 1 ? { opt_start_seq: start } : {}),
      filter_subject: route.filter,
      ack_wait: nanos(30_000),
      max_ack_pending: route.inOrder ? 1 : 1000,
    };
    let info;
    try {
      info = await jsm.consumers.info(route.stream, route.durable);
    } catch {
      info = null;
    }
    if (info && route.resetWhenAhead && info.ack_floor.stream_seq >= start) {
      this.opts.log.warn('consumer is ahead of its checkpoint; replaying', { durable: route.durable, from: start, ackFloor: info.ack_floor.stream_seq });
      await jsm.consumers.delete(route.stream, route.durable).catch(() => undefined);
      info = null;
    }
    if (info && info.config.max_ack_pending !== config.max_ack_pending) {
      // a consumer made before the route's ordering changed
      await jsm.consumers.update(route.stream, route.durable, { max_ack_pending: config.max_ack_pending });
    }
    if (!info) {
      try {
        await jsm.consumers.add(route.stream, config);
      } catch (e) {
        // a replica created it at the same moment
        await jsm.consumers.info(route.stream, route.durable).catch(() => {
          throw e;
        });
      }
    }
  }

  private async run(pattern: string, route: JetStreamRoute, messages: ConsumerMessages): Promise<void> {
    const handler = this.getHandlerByPattern(pattern)!;
    const log = this.opts.log.child({ durable: route.durable });
    for await (const m of messages) {
      if (route.wants && !route.wants(m)) {
        m.ack();
        continue;
      }
      let data: unknown;
      try {
        data = route.decode(m);
      } catch (e) {
        log.error('poison message terminated', { seq: m.seq, subject: m.subject, reason: (e as Error).message });
        m.term();
        continue;
      }
      const traceparent = m.headers?.get('traceparent') || undefined;
      for (let attempt = 1; ; attempt++) {
        const outcome = await this.handle(route, handler, data, m, traceparent, log, attempt);
        if (outcome === 'done') break;
        if (this.closing) {
          m.nak(); // redelivered to whoever consumes next
          break;
        }
        m.working();
        await new Promise((r) => setTimeout(r, inPlaceRetryDelayMs(attempt)));
        if (this.closing) {
          m.nak(); // redelivered to whoever consumes next
          break;
        }
      }
      if (this.closing) break;
    }
  }

  /** Runs the handler for one message and acks, terms or naks it; 'retry-in-place' for an in-order route's retryable failure. */
  private async handle(
    route: JetStreamRoute,
    handler: NonNullable<ReturnType<Server['getHandlerByPattern']>>,
    data: unknown,
    m: JsMsg,
    traceparent: string | undefined,
    log: Logger,
    attempt: number,
  ): Promise<'done' | 'retry-in-place'> {
    try {
        await inSpan(
          `consume ${route.durable}`,
          { 'messaging.destination.name': m.subject, 'messaging.message.sequence': m.seq, [Attr.eventType]: (data as { type?: string })?.type ?? '' },
          async () => {
            const result = await handler(data, new JetStreamContext(m));
            const out = isObservable(result) ? await lastValueFrom(result, { defaultValue: undefined }) : result;
            return out;
          },
          { parent: traceparent, kind: SpanKind.CONSUMER },
        );
        m.ack();
      } catch (e) {
        if (isPermanent(e) || e instanceof InvalidError) {
          log.error('message terminated', { seq: m.seq, subject: m.subject, reason: (e as Error).message, code: (e as KilnError).code });
          m.term();
        } else if (route.inOrder) {
          log.warn('handler failed; retrying in place (in order)', { seq: m.seq, subject: m.subject, attempt, err: e as Error });
          return 'retry-in-place';
        } else {
          log.warn('handler failed; will retry', { seq: m.seq, subject: m.subject, err: e as Error });
          m.nak(typeof route.retryDelayMs === 'function' ? route.retryDelayMs(m.info.deliveryCount, e) : (route.retryDelayMs ?? 500));
        }
      }
    return 'done';
  }

  /** Graceful: stop pulling, let the message in hand finish and ack, flush acks. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.running.map((r) => r.messages.close().catch(() => undefined)));
    await Promise.all(this.running.map((r) => r.loop.catch(() => undefined)));
    await this.opts.connection().flush().catch(() => undefined);
  }

  on(): void {
    /* no transport-level events */
  }

  unwrap<T>(): T {
    return this.opts.connection() as T;
  }
}

export { contextFromTraceparent };
