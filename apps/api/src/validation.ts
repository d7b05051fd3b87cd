import { z } from 'zod';
import { describeZodError, InvalidError } from '@kiln/contracts';

/** Validates a request body at the edge; a failure is a 400 naming each bad field. */
export function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    throw new InvalidError(`invalid request body: ${describeZodError(r.error)}`, undefined, r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return r.data;
}
