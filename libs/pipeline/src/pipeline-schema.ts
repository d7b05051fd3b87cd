import { z } from 'zod';
import { DeploySpec, EnvironmentNameSchema, WARMING_UP_HEADER } from '@kiln/contracts';
import { parseDuration } from './duration';

/** Default whole-build timeout when the pipeline file has no top-level `timeout`: 20 minutes. */
export const DEFAULT_BUILD_TIMEOUT_MS = 20 * 60 * 1000;

/** Keys allowed at the top level of `.kiln.yml`. */
export const TOP_LEVEL_KEYS = ['steps', 'timeout', 'deploy', 'cache'] as const;

/** Keys allowed in a step. */
export const STEP_KEYS = ['name', 'run', 'timeout', 'env', 'cache'] as const;

/** Keys allowed in the `deploy` section. */
export const DEPLOY_KEYS = ['environment', 'start', 'image', 'instances', 'warmup'] as const;

/** Keys allowed in `deploy.warmup`. */
export const WARMUP_KEYS = ['paths', 'hostName', 'header', 'timeout', 'maxTimeout', 'requestTimeout'] as const;

/** Defaults of the `deploy` section. */
export const DEPLOY_DEFAULTS = {
  instances: 2,
  paths: ['/'],
  header: WARMING_UP_HEADER,
  /** Warm-up limit when the instance never sends the warming-up header: 10 minutes. */
  timeoutMs: 10 * 60 * 1000,
  /** Warm-up limit once the warming-up header was seen: 25 minutes. */
  maxTimeoutMs: 25 * 60 * 1000,
  /** One warm-up request that takes longer counts as hanging (still warming): 10 seconds. */
  requestTimeoutMs: 10 * 1000,
} as const;

/** Environment variable names a step may set. */
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const duration = z.unknown().transform((value, ctx): number => {
  const result = parseDuration(value);
  if (!result.ok) {
    ctx.addIssue({ code: 'custom', message: result.message });
    return z.NEVER;
  }
  return result.ms;
});

const nonEmptyString = z
  .string()
  .refine((s) => s.trim().length > 0, { message: 'must not be empty' });

const envValue = z
  .union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' })
  .transform((v) => String(v));

const envName = z
  .string()
  .regex(ENV_NAME_RE, {
    message: 'invalid environment variable name {key} (letters, digits and _ only; must not start with a digit)',
  });

const env = z.record(envName, envValue);

/** A step's cache: restored before the step runs, saved after it succeeds. */
const stepCache = z.strictObject({
  key: nonEmptyString,
  paths: z.array(nonEmptyString).min(1, { message: 'must contain at least one path' }),
  restoreKeys: z.array(nonEmptyString).optional(),
});

const step = z
  .strictObject({
    name: nonEmptyString,
    run: nonEmptyString,
    timeout: duration.optional(),
    env: env.optional(),
    cache: stepCache.optional(),
  })
  .transform((s) => ({
    name: s.name,
    run: s.run,
    ...(s.timeout !== undefined ? { timeoutMs: s.timeout } : {}),
    env: s.env ?? {},
    ...(s.cache ? { cache: { key: s.cache.key, paths: s.cache.paths, restoreKeys: s.cache.restoreKeys ?? [] } } : {}),
  }));

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const warmup = z
  .strictObject({
    paths: z
      .array(
        z
          .string({ error: 'expected a string' })
          .regex(/^\/\S*$/, { message: "must be a path starting with '/' (no spaces)" }),
      )
      .min(1, { message: 'must contain at least one path' })
      .optional(),
    hostName: nonEmptyString.optional(),
    header: z.string().regex(HEADER_NAME_RE, { message: 'must be an HTTP header name' }).optional(),
    timeout: duration.optional(),
    maxTimeout: duration.optional(),
    requestTimeout: duration.optional(),
  })
  .superRefine((w, ctx) => {
    if (w.timeout !== undefined && w.maxTimeout !== undefined && w.maxTimeout < w.timeout) {
      ctx.addIssue({ code: 'custom', path: ['maxTimeout'], message: 'must be at least timeout' });
    }
  });

/**
 * zod schema of the `deploy` section, normalized to a {@link DeploySpec}:
 * `{ environment, start | image, instances?, warmup?: { paths?, hostName?, header?, timeout?, maxTimeout?, requestTimeout? } }`.
 */
export const deploySchema = z
  .strictObject({
    environment: EnvironmentNameSchema,
    start: nonEmptyString.optional(),
    image: nonEmptyString.optional(),
    instances: z
      .number({ error: 'expected a number' })
      .int({ message: 'must be a whole number' })
      .min(1, { message: 'must be at least 1' })
      .max(16, { message: 'must be at most 16' })
      .optional(),
    warmup: warmup.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.start === undefined && d.image === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: "needs 'start' (a shell command that starts one instance listening on $PORT) or 'image'" });
    }
  })
  .transform(
    (d): DeploySpec => ({
      environment: d.environment,
      start: d.start ?? null,
      image: d.image ?? null,
      instances: d.instances ?? DEPLOY_DEFAULTS.instances,
      warmup: {
        paths: d.warmup?.paths ?? [...DEPLOY_DEFAULTS.paths],
        hostName: d.warmup?.hostName ?? null,
        header: d.warmup?.header ?? DEPLOY_DEFAULTS.header,
        timeoutMs: d.warmup?.timeout ?? DEPLOY_DEFAULTS.timeoutMs,
        // a timeout above the default maxTimeout raises maxTimeout with it
        maxTimeoutMs: d.warmup?.maxTimeout ?? Math.max(DEPLOY_DEFAULTS.maxTimeoutMs, d.warmup?.timeout ?? 0),
        requestTimeoutMs: d.warmup?.requestTimeout ?? DEPLOY_DEFAULTS.requestTimeoutMs,
      },
    }),
  );

/**
 * zod schema of the parts of a `.kiln.yml` document the deployer reads: the `deploy` section
 * (absent: null). The other keys are the build's and checked by {@link pipelineSchema}.
 */
export const deployDocumentSchema = z
  .looseObject({ deploy: deploySchema.optional() })
  .transform((doc): DeploySpec | null => doc.deploy ?? null);

/** zod schema of a whole `.kiln.yml` document (after YAML → JS conversion). */
export const pipelineSchema = z
  .strictObject({
    steps: z.array(step).min(1, { message: 'must contain at least one step' }),
    timeout: duration.optional(),
    deploy: z.unknown().optional(),
    cache: z.unknown().optional(),
  })
  .superRefine((p, ctx) => {
    const firstIndex = new Map<string, number>();
    p.steps.forEach((s, i) => {
      const first = firstIndex.get(s.name);
      if (first === undefined) {
        firstIndex.set(s.name, i);
      } else {
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: `duplicate step name '${s.name}' (already used by steps[${first}])`,
        });
      }
    });
  })
  .transform((p) => ({
    timeoutMs: p.timeout ?? DEFAULT_BUILD_TIMEOUT_MS,
    steps: p.steps,
  }));
