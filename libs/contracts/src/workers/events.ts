import { z } from 'zod';
import { defineEvent, EventCodec, EventOf } from '../registry';
import { BuildSourceSchema } from '../builds/events';

const iso = z.string().min(1);
const id = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** The agent protocol version; bumped on any change to worker events or the lease. */
export const AGENT_PROTOCOL_VERSION = 1;

export const WorkerProvisioningV1 = defineEvent(
  'WorkerProvisioning',
  1,
  z.object({ workerId: id, driver: z.string(), provisionedAt: iso }),
);

/** The agent connected out to NATS and began its warm-up. */
export const WorkerConnectedV1 = defineEvent(
  'WorkerConnected',
  1,
  z.object({ workerId: id, hostname: z.string(), pid: z.number().int(), protocolVersion: z.number().int(), connectedAt: iso }),
);

/** Warm-up passed and the first heartbeat was sent: the worker can take a lease. */
export const WorkerWarmV1 = defineEvent(
  'WorkerWarm',
  1,
  z.object({ workerId: id, warmAt: iso, checks: z.array(z.string()) }),
);

/** The job a leased worker runs. */
export const LeaseJobSchema = z.object({
  buildId: id,
  projectId: id,
  attempt: z.number().int().positive(),
  source: BuildSourceSchema,
});
export type LeaseJob = z.infer<typeof LeaseJobSchema>;

export const WorkerLeasedV1 = defineEvent(
  'WorkerLeased',
  1,
  z.object({ workerId: id, job: LeaseJobSchema, leasedAt: iso }),
);

/** A reusable (non-ephemeral) worker finished its build and is warm and idle again. */
export const WorkerReleasedV1 = defineEvent(
  'WorkerReleased',
  1,
  z.object({ workerId: id, buildId: id, releasedAt: iso }),
);

export const WorkerRetiredV1 = defineEvent(
  'WorkerRetired',
  1,
  z.object({ workerId: id, reason: z.string(), retiredAt: iso }),
);

export const WorkerLostV1 = defineEvent(
  'WorkerLost',
  1,
  z.object({ workerId: id, reason: z.string(), lostAt: iso }),
);

export const WorkerEventDefinitions = [
  WorkerProvisioningV1,
  WorkerConnectedV1,
  WorkerWarmV1,
  WorkerLeasedV1,
  WorkerReleasedV1,
  WorkerRetiredV1,
  WorkerLostV1,
] as const;

export type WorkerEvent = EventOf<(typeof WorkerEventDefinitions)[number]>;
export const workerCodec = new EventCodec<WorkerEvent>(WorkerEventDefinitions);
