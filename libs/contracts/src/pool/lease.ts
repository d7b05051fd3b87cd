import { z } from 'zod';
import { LeaseJobSchema } from '../workers/events';

/**
 * Scheduler → pool-manager, core NATS request/reply on `subjects.leaseRequest`.
 * Idempotent: asking again for the same build attempt returns the same worker.
 */
export const LeaseRequestSchema = z.object({ job: LeaseJobSchema });
export type LeaseRequest = z.infer<typeof LeaseRequestSchema>;

export const LeaseReplySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), workerId: z.string() }),
  z.object({ ok: z.literal(false), reason: z.string() }),
]);
export type LeaseReply = z.infer<typeof LeaseReplySchema>;

/** Agent → pool-manager heartbeat (core NATS, not stored). */
export const HeartbeatSchema = z.object({
  workerId: z.string(),
  at: z.number(),
  buildId: z.string().nullable(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
