/**
 * The CLI's errors, each with the exit code it ends the process with:
 * 1 for a failure (the API refused, the server is unreachable, a build failed),
 * 2 for a usage error (bad arguments, missing login).
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure with a message for the user; exit code 1 unless said otherwise. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown command or option, missing argument, malformed value (exit 2). */
export class UsageError extends CliError {
  constructor(
    message: string,
    /** The command whose `--help` to point at, e.g. `builds ls`. */
    readonly command?: string,
  ) {
    super(message, ExitCode.usage);
  }
}

/** The API answered with an error status and (usually) its `{ error, message, details? }` body. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    /** The API's machine-readable error name (`not_found`, `invalid`, `unauthorized`, ...). */
    readonly error: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message, ExitCode.failure);
  }

  /** The error as the API sent it, for `--json` output. */
  toJSON(): { status: number; error: string; message: string; details?: unknown } {
    return { status: this.status, error: this.error, message: this.message, ...(this.details !== undefined ? { details: this.details } : {}) };
  }
}

/** The server could not be reached or the connection broke (exit 1). */
export class NetworkError extends CliError {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach Kiln at ${url}: ${describeCause(cause)}`, ExitCode.failure, { cause });
  }
}

/** The most useful text of a fetch failure (undici hides the system error in `cause`). */
export function describeCause(e: unknown): string {
  // duck-typed: errors from fetch may come from another realm (instanceof Error fails)
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  if (!err || typeof err.message !== 'string') return String(e);
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = err.cause;
  if (cause && typeof cause.message === 'string') {
    if (!cause.code) return cause.message;
    return cause.message.includes(cause.code) ? cause.code : `${cause.code} (${cause.message})`;
  }
  return err.message;
}
