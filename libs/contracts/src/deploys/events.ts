import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineEvent, EventCodec, EventOf } from '../registry';

const iso = z.string().min(1);
const id = z.string().regex(/^[A-Za-z0-9_-]+$/);

/**
 * An environment name: one DNS label (lower-case letters, digits, `-`; 1-63 characters), since
 * the edge router finds an environment by the `Host` header `<environment>.localhost`.
 * Environment names are global to an installation.
 */
export const EnvironmentNameSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and -, at most 63 characters (a DNS label)');

/** The default warm-up signal header (Azure App Service AppInit / Episerver DXC). */
export const WARMING_UP_HEADER = 'X-AppInit-WarmingUp';

/**
 * How an instance proves it is warm (normalized from the pipeline's `deploy.warmup`).
 * An instance is warm when each path, requested in order, answers 2xx without `header`;
 * a redirect counts as an answer (reported as a warning); a request that hangs past
 * `requestTimeoutMs` or is refused counts as "still warming".
 */
export const WarmupSpecSchema = z.object({
  /** Paths requested in order, each until it answers; each starts with `/`. */
  paths: z.array(z.string().startsWith('/')).min(1),
  /** `Host` header of warm-up requests (IIS `hostName`); null: `localhost:<port>`. */
  hostName: z.string().nullable(),
  /** Response header that says "still warming up" (the warm-up signal). */
  header: z.string().min(1),
  /** Limit when the signal header is never seen (default 10 minutes). */
  timeoutMs: z.number().int().positive(),
  /** Limit once the signal header has been seen (default 25 minutes); at least `timeoutMs`. */
  maxTimeoutMs: z.number().int().positive(),
  /** Longest one warm-up request may take before it counts as hanging (default 10 s). */
  requestTimeoutMs: z.number().int().positive(),
});
export type WarmupSpec = z.infer<typeof WarmupSpecSchema>;

/** A validated `deploy` section of `.kiln.yml`, with defaults applied and durations in ms. */
export const DeploySpecSchema = z.object({
  /** Target environment. */
  environment: EnvironmentNameSchema,
  /** Shell command starting one instance; it must listen on `$PORT`. Null when only `image` is set; with `image`, the container's command. */
  start: z.string().min(1).nullable(),
  /** Container image, run by the deployer's docker runtime (Docker Engine API at `DOCKER_HOST`); null: `start` runs as a process. */
  image: z.string().min(1).nullable(),
  /** Instances of the new version started side by side (default 2). */
  instances: z.number().int().min(1).max(16),
  warmup: WarmupSpecSchema,
});
export type DeploySpec = z.infer<typeof DeploySpecSchema>;

/** Why an instance failed. `crashed`/`unhealthy` during a deploy roll it back. */
export const InstanceFailureCauses = ['crashed', 'unhealthy', 'warmup_timeout'] as const;
export type InstanceFailureCause = (typeof InstanceFailureCauses)[number];

/**
 * A deploy began: the release (the build's commit, checked out by the deployer) is about
 * to start `spec.instances` new instances beside the version now serving `environment`.
 * First event of every deploy that got past reading its `deploy` section.
 */
export const DeployStartedV1 = defineEvent(
  'DeployStarted',
  1,
  z.object({
    deployId: id,
    buildId: id,
    projectId: id,
    sha: z.string().regex(/^[0-9a-f]{7,64}$/),
    environment: EnvironmentNameSchema,
    spec: DeploySpecSchema,
    /** The deploy serving the environment when this one started (null: first deploy). */
    previousDeployId: id.nullable(),
    /** Where the release is checked out on the deployer's machine. */
    releaseDir: z.string().min(1),
    startedAt: iso,
  }),
);

/**
 * One new instance runs (a process group, or a container whose main process is `pid`),
 * listening on `127.0.0.1:port` once up. On a live deploy: an instance that had failed (or
 * was gone when the deployer restarted) started again; it warms up before it takes traffic.
 */
export const InstanceStartedV1 = defineEvent(
  'InstanceStarted',
  1,
  z.object({
    deployId: id,
    instanceId: id,
    /** 1-based position among the deploy's instances. */
    index: z.number().int().positive(),
    pid: z.number().int().positive(),
    port: z.number().int().positive(),
    startedAt: iso,
  }),
);

/**
 * A warm-up observation of an instance that is not warm yet: recorded when warm-up begins
 * and whenever what the instance answers changes (not on every probe).
 */
export const InstanceWarmingV1 = defineEvent(
  'InstanceWarming',
  1,
  z.object({
    deployId: id,
    instanceId: id,
    /** The warm-up path being requested. */
    path: z.string(),
    /** What it answered: `503`, `200 with X-AppInit-WarmingUp: 1`, `connection refused`, `no answer within 10s (hanging)`. */
    observation: z.string(),
    /** Whether the warm-up signal header has been seen on this instance (limit is then `maxTimeoutMs`). */
    signalSeen: z.boolean(),
    /** The warm-up limit now in force for this instance, from its start of warm-up. */
    limitMs: z.number().int().positive(),
    at: iso,
  }),
);

/** Every warm-up path answered; `warnings` names redirects that counted as answers. */
export const InstanceWarmV1 = defineEvent(
  'InstanceWarm',
  1,
  z.object({ deployId: id, instanceId: id, tookMs: z.number().int().nonnegative(), warnings: z.array(z.string()), warmAt: iso }),
);

/** An instance exited, stopped answering its health check, or did not warm in time. It takes no traffic. */
export const InstanceFailedV1 = defineEvent(
  'InstanceFailed',
  1,
  z.object({ deployId: id, instanceId: id, cause: z.enum(InstanceFailureCauses), reason: z.string(), failedAt: iso }),
);

/** Every new instance was warm: the environment's instance list was swapped to them at once. */
export const TrafficSwitchedV1 = defineEvent(
  'TrafficSwitched',
  1,
  z.object({
    deployId: id,
    environment: EnvironmentNameSchema,
    instanceIds: z.array(id).min(1),
    /** The deploy whose instances now drain and stop (null: first deploy). */
    previousDeployId: id.nullable(),
    switchedAt: iso,
  }),
);

/**
 * The deploy did not switch traffic: the old version keeps serving, the new instances are
 * stopped. Also the only event of a deploy whose `deploy` section or release could not be read.
 */
export const DeployFailedV1 = defineEvent(
  'DeployFailed',
  1,
  z.object({ deployId: id, buildId: id, projectId: id, reason: z.string(), failedAt: iso }),
);

/** A new instance crashed during the deploy: the old version keeps serving, the new instances are stopped. */
export const DeployRolledBackV1 = defineEvent(
  'DeployRolledBack',
  1,
  z.object({ deployId: id, instanceId: id, reason: z.string(), rolledBackAt: iso }),
);

export const DeployEventDefinitions = [
  DeployStartedV1,
  InstanceStartedV1,
  InstanceWarmingV1,
  InstanceWarmV1,
  InstanceFailedV1,
  TrafficSwitchedV1,
  DeployFailedV1,
  DeployRolledBackV1,
] as const;

export type DeployEvent = EventOf<(typeof DeployEventDefinitions)[number]>;
export type DeployEventType = DeployEvent['type'];
export type DeployEventData<T extends DeployEventType> = Extract<DeployEvent, { type: T }>['data'];
export const deployCodec = new EventCodec<DeployEvent>(DeployEventDefinitions);

/**
 * The deploy of a build: one per build, derived from its id, so a redelivered
 * `BuildSucceeded` can only ever create it once (its first append expects an empty subject).
 */
export function deployIdForBuild(buildId: string): string {
  return `d-${createHash('sha256').update(`deploy:${buildId}`).digest('hex').slice(0, 32)}`;
}

/** The id of a deploy's `index`-th (1-based) instance. */
export function instanceIdOf(deployId: string, index: number): string {
  return `${deployId}-${index}`;
}
