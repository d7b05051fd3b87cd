/**
 * Kiln's small error hierarchy. Every transport maps these in one place:
 * HTTP status codes in the services, `term()`/`nak()` in JetStream consumers.
 */
export type KilnErrorCode = 'ILLEGAL_STATE' | 'NOT_FOUND' | 'CONCURRENCY' | 'INVALID';

export abstract class KilnError extends Error {
  abstract readonly code: KilnErrorCode;
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** Extra machine-readable detail (field errors, ids). */
    readonly details?: unknown,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The command is not allowed in the aggregate's current state. */
export class IllegalStateError extends KilnError {
  readonly code = 'ILLEGAL_STATE' as const;
}

/** The aggregate or resource does not exist. */
export class NotFoundError extends KilnError {
  readonly code = 'NOT_FOUND' as const;
}

/** A stale writer lost an optimistic-concurrency race; retry on fresh state. */
export class ConcurrencyError extends KilnError {
  readonly code = 'CONCURRENCY' as const;
}

/** Input (a message, a body, a file) is malformed; retrying cannot help. */
export class InvalidError extends KilnError {
  readonly code = 'INVALID' as const;
}

export function isKilnError(e: unknown): e is KilnError {
  return e instanceof KilnError;
}
