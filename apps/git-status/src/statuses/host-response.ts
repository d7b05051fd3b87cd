/** What to do after a git host answered (or did not). */
export type HostOutcome =
  | { kind: 'sent' }
  /** The host is down, overloaded or rate limiting: try again later (after `retryAfterMs` when it said). */
  | { kind: 'retry'; reason: string; retryAfterMs: number | null }
  /** The host refused the request itself (bad token, unknown repository or sha, a transition it does not allow): retrying cannot help. */
  | { kind: 'drop'; reason: string };

interface HeaderReader {
  get(name: string): string | null;
}

/**
 * Sorts a git host's answer: 2xx sent; 429, 408, 5xx and GitHub's rate-limit 403s
 * (`x-ratelimit-remaining: 0`, or a `retry-after`) retried; any other 4xx dropped with the
 * host's message as the reason.
 */
export function classifyResponse(status: number, headers: HeaderReader, body: string, nowMs: number): HostOutcome {
  if (status >= 200 && status < 300) return { kind: 'sent' };
  const reason = `HTTP ${status}${messageOf(body)}`;
  const rateLimited = status === 429 || (status === 403 && (headers.get('x-ratelimit-remaining') === '0' || headers.get('retry-after') !== null));
  if (rateLimited || status === 408 || status >= 500) return { kind: 'retry', reason, retryAfterMs: retryAfterMs(headers, nowMs) };
  return { kind: 'drop', reason };
}

/** A failure to reach the host at all (refused, reset, DNS, timeout) is worth retrying. */
export function networkFailure(e: unknown): HostOutcome {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const detail = err?.name === 'TimeoutError' ? 'no answer in time' : (err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e));
  return { kind: 'retry', reason: `network: ${detail}`, retryAfterMs: null };
}

/** How long the host asked us to wait: `Retry-After` (seconds or an HTTP date), else GitHub's `x-ratelimit-reset` (epoch seconds). */
export function retryAfterMs(headers: HeaderReader, nowMs: number): number | null {
  const ra = headers.get('retry-after');
  if (ra !== null && ra.trim() !== '') {
    if (/^\d+$/.test(ra.trim())) return Number(ra.trim()) * 1000;
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - nowMs);
  }
  const reset = headers.get('x-ratelimit-reset');
  if (reset !== null && /^\d+$/.test(reset.trim())) return Math.max(0, Number(reset.trim()) * 1000 - nowMs);
  return null;
}

/** How retries are spaced and when they stop. */
export interface RetryPolicy {
  /** Delay before the second delivery; doubles each time. */
  baseDelayMs: number;
  /** No wait grows beyond this (also caps a host's Retry-After). */
  maxDelayMs: number;
  /** Deliveries of one event before its status is given up (logged as an error). */
  maxAttempts: number;
}

/** 1 s, 2 s, 4 s … capped at 5 min; 15 deliveries span about 40 minutes of host outage. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 5 * 60_000, maxAttempts: 15 };

/**
 * The wait before the next delivery after `deliveryCount` failed ones: the host's own
 * `retryAfterMs` when it gave one, else exponential backoff, plus up to 10 % jitter so
 * statuses held back by one outage do not all return in the same instant.
 */
export function retryDelay(deliveryCount: number, retryAfter: number | null, policy: RetryPolicy, random: () => number = Math.random): number {
  const backoff = policy.baseDelayMs * 2 ** Math.min(30, Math.max(0, deliveryCount - 1));
  const wait = Math.min(policy.maxDelayMs, retryAfter ?? backoff);
  return Math.round(wait + wait * 0.1 * random());
}

/** A status the host could not take now; the consumer redelivers the event later. */
export class HostUnavailableError extends Error {
  override name = 'HostUnavailableError';
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

function messageOf(body: string): string {
  const text = body.trim();
  if (!text) return '';
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    const m = typeof j.message === 'string' ? j.message : typeof j.error === 'string' ? j.error : j.message !== undefined ? JSON.stringify(j.message) : null;
    if (m) return `: ${m.slice(0, 300)}`;
  } catch {
    /* not JSON */
  }
  return `: ${text.replace(/\s+/g, ' ').slice(0, 300)}`;
}
