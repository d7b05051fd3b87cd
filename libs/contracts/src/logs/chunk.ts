import { z } from 'zod';
import { describeZodError } from '../envelope';
import { InvalidError } from '../errors';

/**
 * Log records on `<ns>.log.<buildId>`. The runner publishes `lines` chunks (with
 * `Nats-Msg-Id` = `<buildId>:<attempt>:<chunk>` so a retried publish is dropped) and, when
 * the build has ended, one `end` record carrying the result: readers stop following there.
 */
export const LogLineSchema = z.object({
  /** Line number within the attempt, from 1, consecutive. */
  n: z.number().int().positive(),
  /** Epoch milliseconds when the line was read from the step. */
  t: z.number(),
  stream: z.enum(['stdout', 'stderr', 'system']),
  /** Step index, or null for lines outside a step (clone, pipeline errors). */
  step: z.number().int().nonnegative().nullable(),
  text: z.string(),
});
export type LogLine = z.infer<typeof LogLineSchema>;

export const LogChunkSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('lines'),
    buildId: z.string(),
    attempt: z.number().int().positive(),
    /** Chunk number within the attempt, from 1. */
    chunk: z.number().int().positive(),
    lines: z.array(LogLineSchema).min(1),
  }),
  z.object({
    kind: z.literal('end'),
    buildId: z.string(),
    attempt: z.number().int().nonnegative(),
    status: z.string(),
  }),
]);
export type LogChunk = z.infer<typeof LogChunkSchema>;

export function encodeLogChunk(c: LogChunk): Uint8Array {
  return Buffer.from(JSON.stringify(c));
}

export function decodeLogChunk(bytes: Uint8Array): LogChunk {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new InvalidError('log chunk is not valid JSON', { cause: e });
  }
  const r = LogChunkSchema.safeParse(json);
  if (!r.success) throw new InvalidError(`malformed log chunk: ${describeZodError(r.error)}`);
  return r.data;
}

export function logChunkMsgId(c: LogChunk): string {
  return c.kind === 'lines' ? `${c.buildId}:${c.attempt}:${c.chunk}` : `${c.buildId}:${c.attempt}:end`;
}

/**
 * A position in a build's log: the stream sequence of a chunk and the index of a line in
 * it. Its text form `<seq>-<index>` is the SSE event id and the `cursor` query parameter;
 * reading "after" a cursor resumes exactly at the next line.
 */
export interface LogCursor {
  seq: number;
  index: number;
}

export function formatLogCursor(c: LogCursor): string {
  return `${c.seq}-${c.index}`;
}

/** Parses a cursor; empty or absent means "from the start". Throws InvalidError when malformed. */
export function parseLogCursor(text: string | undefined | null): LogCursor | null {
  if (text === undefined || text === null || text === '') return null;
  const m = /^(\d+)-(\d+)$/.exec(text);
  if (!m) throw new InvalidError(`invalid log cursor "${text}": expected <sequence>-<index>`);
  return { seq: Number(m[1]), index: Number(m[2]) };
}
