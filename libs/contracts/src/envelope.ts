import { z } from 'zod';
import { InvalidError } from './errors';

/**
 * Metadata carried by every message. Ids and time are set by the edge that creates the
 * message (never inside domain logic).
 */
export const MetadataSchema = z.object({
  /** Unique id of this event; also its `Nats-Msg-Id` (duplicate publishes are dropped). */
  eventId: z.string().min(1),
  /** Id shared by every message caused, directly or not, by the same first cause (one build = one correlation). */
  correlationId: z.string().min(1),
  /** Id of the message or command that caused this one. */
  causationId: z.string().min(1).optional(),
  /** W3C trace context of the span that produced this message. */
  traceparent: z.string().optional(),
  /** ISO-8601 time the event happened. */
  occurredAt: z.string().min(1),
});
export type Metadata = z.infer<typeof MetadataSchema>;

/** The one envelope every event has on the wire. */
export interface Envelope<T extends string = string, D = unknown> {
  readonly type: T;
  readonly version: number;
  readonly data: D;
  readonly meta: Metadata;
}

const EnvelopeSchema = z.object({
  type: z.string().min(1),
  version: z.number().int().positive(),
  data: z.unknown(),
  meta: MetadataSchema,
});

/** Header names used on NATS messages. */
export const Headers = {
  type: 'Kiln-Type',
  version: 'Kiln-Version',
  traceparent: 'traceparent',
  msgId: 'Nats-Msg-Id',
  expectedLastSubjectSeq: 'Nats-Expected-Last-Subject-Sequence',
} as const;

/** Parses raw JSON bytes into an (untyped) envelope; throws InvalidError with the reason. */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new InvalidError('message is not valid JSON', { cause: e });
  }
  const r = EnvelopeSchema.safeParse(json);
  if (!r.success) {
    throw new InvalidError(`malformed envelope: ${describeZodError(r.error)}`, { cause: r.error });
  }
  return r.data as Envelope;
}

/** One-line, field-naming description of a zod error. */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
