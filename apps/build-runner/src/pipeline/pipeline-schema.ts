import { z } from 'zod';
import { parseDuration } from './duration';

/** Default whole-build timeout when the pipeline file has no top-level `timeout`: 20 minutes. */
export const DEFAULT_BUILD_TIMEOUT_MS = 20 * 60 * 1000;

/** Keys allowed at the top level of `.kiln.yml`. */
export const TOP_LEVEL_KEYS = ['steps', 'timeout', 'deploy', 'cache'] as const;

/** Keys allowed in a step. */
export const STEP_KEYS = ['name', 'run', 'timeout', 'env'] as const;

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

const step = z
  .strictObject({
    name: nonEmptyString,
    run: nonEmptyString,
    timeout: duration.optional(),
    env: env.optional(),
  })
  .transform((s) => ({
    name: s.name,
    run: s.run,
    ...(s.timeout !== undefined ? { timeoutMs: s.timeout } : {}),
    env: s.env ?? {},
  }));

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
