import { z } from 'zod';
import { defineEvent, EventCodec, EventOf } from '../registry';

/** Build statuses as the API shows them. */
export const BuildStatuses = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type BuildStatus = (typeof BuildStatuses)[number];
export const FinalBuildStatuses: readonly BuildStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

const iso = z.string().min(1);
const id = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** The commit a build runs. `sha` is null for a manual trigger by ref; the runner resolves it. */
export const BuildSourceSchema = z.object({
  repoUrl: z.string().min(1),
  ref: z.string().min(1),
  sha: z.string().regex(/^[0-9a-f]{7,64}$/).nullable(),
  branch: z.string().nullable(),
  author: z.string().nullable(),
  message: z.string().nullable(),
});
export type BuildSource = z.infer<typeof BuildSourceSchema>;

/** A push (or a manual trigger) asked for a build. First event of every build. */
export const BuildRequestedV1 = defineEvent(
  'BuildRequested',
  1,
  z.object({
    buildId: id,
    projectId: id,
    trigger: z.enum(['push', 'manual', 'retry']),
    /** Webhook delivery id (GitHub `X-GitHub-Delivery`, GitLab idempotency key). */
    deliveryId: z.string().nullable(),
    source: BuildSourceSchema,
    requestedAt: iso,
  }),
);

/** The scheduler put the build (attempt `attempt`) in its project's queue. */
export const BuildQueuedV1 = defineEvent(
  'BuildQueued',
  1,
  z.object({ buildId: id, projectId: id, attempt: z.number().int().positive(), queuedAt: iso }),
);

/** A worker holds the lease for this attempt. */
export const BuildAssignedV1 = defineEvent(
  'BuildAssigned',
  1,
  z.object({ buildId: id, workerId: id, attempt: z.number().int().positive(), assignedAt: iso }),
);

/** The agent began the attempt (clone, then steps). */
export const BuildStartedV1 = defineEvent(
  'BuildStarted',
  1,
  z.object({ buildId: id, workerId: id, attempt: z.number().int().positive(), startedAt: iso }),
);

/** The pipeline file was read; its steps are known. */
export const PipelineLoadedV1 = defineEvent(
  'PipelineLoaded',
  1,
  z.object({
    buildId: id,
    attempt: z.number().int().positive(),
    sha: z.string(),
    steps: z.array(z.object({ name: z.string() })),
    /** The pipeline's whole-build timeout (ms); the scheduler ends the build if its worker does not. Absent in events before it was recorded. */
    timeoutMs: z.number().int().positive().optional(),
    /**
     * Whether the pipeline deploys: the `deploy` section's `environment`, or null when the file
     * has no `deploy` section (the deployer then skips the build without fetching it). Absent
     * when not known: in events before it was recorded, and when the section does not parse
     * (the deployer reads the file itself and reports the error). The deployer's own reading
     * of the file stays the authority for the deploy's spec.
     */
    deploy: z.object({ environment: z.string() }).nullable().optional(),
  }),
);

export const StepStartedV1 = defineEvent(
  'StepStarted',
  1,
  z.object({ buildId: id, attempt: z.number().int().positive(), index: z.number().int().nonnegative(), name: z.string(), startedAt: iso }),
);

export const StepOutcomes = ['succeeded', 'failed', 'timed_out', 'cancelled'] as const;
export type StepOutcome = (typeof StepOutcomes)[number];

export const StepFinishedV1 = defineEvent(
  'StepFinished',
  1,
  z.object({
    buildId: id,
    attempt: z.number().int().positive(),
    index: z.number().int().nonnegative(),
    name: z.string(),
    outcome: z.enum(StepOutcomes),
    exitCode: z.number().int().nullable(),
    finishedAt: iso,
    durationMs: z.number().nonnegative(),
  }),
);

export const BuildSucceededV1 = defineEvent(
  'BuildSucceeded',
  1,
  z.object({ buildId: id, attempt: z.number().int().positive(), finishedAt: iso }),
);

export const BuildFailedV1 = defineEvent(
  'BuildFailed',
  1,
  z.object({
    buildId: id,
    attempt: z.number().int().positive(),
    reason: z.string(),
    exitCode: z.number().int().nullable(),
    finishedAt: iso,
  }),
);

export const BuildTimedOutV1 = defineEvent(
  'BuildTimedOut',
  1,
  z.object({ buildId: id, attempt: z.number().int().positive(), reason: z.string(), finishedAt: iso }),
);

/** Someone asked to cancel a build that a worker holds; the worker stops it. */
export const BuildCancelRequestedV1 = defineEvent(
  'BuildCancelRequested',
  1,
  z.object({ buildId: id, reason: z.string(), requestedAt: iso }),
);

export const BuildCancelledV1 = defineEvent(
  'BuildCancelled',
  1,
  z.object({ buildId: id, attempt: z.number().int().nonnegative(), reason: z.string(), finishedAt: iso }),
);

/** The attempt's worker was lost; the build goes back to the queue as `attempt`. */
export const BuildRequeuedV1 = defineEvent(
  'BuildRequeued',
  1,
  z.object({ buildId: id, attempt: z.number().int().positive(), reason: z.string(), requeuedAt: iso }),
);

/** A step's cache was restored before it ran (or missed). */
export const CacheRestoredV1 = defineEvent(
  'CacheRestored',
  1,
  z.object({
    buildId: id,
    attempt: z.number().int().positive(),
    index: z.number().int().nonnegative(),
    key: z.string(),
    result: z.enum(['hit', 'partial', 'miss']),
    matchedKey: z.string().nullable(),
    bytes: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
  }),
);

/** A step's cache was saved after it succeeded (or skipped, with the reason). */
export const CacheSavedV1 = defineEvent(
  'CacheSaved',
  1,
  z.object({
    buildId: id,
    attempt: z.number().int().positive(),
    index: z.number().int().nonnegative(),
    key: z.string(),
    saved: z.boolean(),
    reason: z.string().nullable(),
    bytes: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
  }),
);

export const BuildEventDefinitions = [
  BuildRequestedV1,
  BuildQueuedV1,
  BuildAssignedV1,
  BuildStartedV1,
  PipelineLoadedV1,
  StepStartedV1,
  StepFinishedV1,
  BuildSucceededV1,
  BuildFailedV1,
  BuildTimedOutV1,
  BuildCancelRequestedV1,
  BuildCancelledV1,
  BuildRequeuedV1,
  CacheRestoredV1,
  CacheSavedV1,
] as const;

export type BuildEvent = EventOf<(typeof BuildEventDefinitions)[number]>;
export type BuildEventType = BuildEvent['type'];
export type BuildEventData<T extends BuildEventType> = Extract<BuildEvent, { type: T }>['data'];
export const buildCodec = new EventCodec<BuildEvent>(BuildEventDefinitions);
