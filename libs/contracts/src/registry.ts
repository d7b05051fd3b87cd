import { z } from 'zod';
import { Envelope, describeZodError, parseEnvelope } from './envelope';
import { InvalidError } from './errors';

/** A versioned event type with its runtime schema. Published versions are frozen. */
export interface EventDefinition<T extends string, S extends z.ZodType> {
  readonly type: T;
  readonly version: number;
  readonly schema: S;
}

export function defineEvent<T extends string, S extends z.ZodType>(
  type: T,
  version: number,
  schema: S,
): EventDefinition<T, S> {
  return { type, version, schema };
}

/** The typed event union of a list of definitions: `{ type, data }`. */
export type EventOf<D> = D extends EventDefinition<infer T, infer S> ? { type: T; data: z.infer<S> } : never;

/** A decoded event with its envelope metadata and stream position. */
export type Recorded<E extends { type: string; data: unknown }> = E & {
  readonly version: number;
  readonly meta: Envelope['meta'];
  /** Stream sequence of the message. */
  readonly seq: number;
  readonly subject: string;
};

/**
 * Decodes messages of one stream: validates the envelope, looks up the type and checks
 * the data against the schema of its version. Unknown types and malformed data throw
 * `InvalidError` naming the reason (consumers `term()` such messages).
 */
export class EventCodec<E extends { type: string; data: unknown }> {
  private readonly byType = new Map<string, EventDefinition<string, z.ZodType>>();

  constructor(readonly definitions: readonly EventDefinition<string, z.ZodType>[]) {
    for (const d of definitions) this.byType.set(`${d.type}@${d.version}`, d);
  }

  has(type: string): boolean {
    return this.definitions.some((d) => d.type === type);
  }

  decode(bytes: Uint8Array, seq: number, subject: string): Recorded<E> {
    const env = parseEnvelope(bytes);
    return this.decodeEnvelope(env, seq, subject);
  }

  decodeEnvelope(env: Envelope, seq: number, subject: string): Recorded<E> {
    const def = this.byType.get(`${env.type}@${env.version}`);
    if (!def) {
      throw new InvalidError(`unknown event type ${env.type} v${env.version} on ${subject}`);
    }
    const r = def.schema.safeParse(env.data);
    if (!r.success) {
      throw new InvalidError(`invalid ${env.type} v${env.version}: ${describeZodError(r.error)}`);
    }
    return { type: env.type, data: r.data, version: env.version, meta: env.meta, seq, subject } as unknown as Recorded<E>;
  }

  /** Checks an event about to be appended (catches programming errors before they hit the stream). */
  validate(event: E): EventDefinition<string, z.ZodType> {
    const def = [...this.byType.values()].filter((d) => d.type === event.type).sort((a, b) => b.version - a.version)[0];
    if (!def) throw new InvalidError(`unknown event type ${event.type}`);
    const r = def.schema.safeParse(event.data);
    if (!r.success) throw new InvalidError(`invalid ${event.type}: ${describeZodError(r.error)}`);
    return def;
  }
}
