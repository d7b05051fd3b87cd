import { createHmac, timingSafeEqual } from 'node:crypto';

/** Prefix GitHub puts in front of the hex digest in `X-Hub-Signature-256`. */
const SIGNATURE_PREFIX = 'sha256=';

/** `sha256=` followed by exactly 64 hex digits (a SHA-256 digest). */
const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/i;

/**
 * Computes the `X-Hub-Signature-256` value GitHub would send for `body`
 * (`sha256=` + hex HMAC-SHA256 of the body keyed with `secret`).
 * Meant for tests and tools that replay deliveries.
 *
 * @param secret - The webhook secret configured on the GitHub hook.
 * @param body - The exact request body bytes (or a string, hashed as UTF-8).
 * @returns The header value, e.g. `sha256=7571…3e17`.
 */
export function signGithubBody(secret: string, body: Buffer | string): string {
  return SIGNATURE_PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Checks a GitHub `X-Hub-Signature-256` header against the raw request body.
 *
 * The comparison is constant time (`timingSafeEqual` on two 32-byte buffers). Anything that is
 * not exactly `sha256=<64 hex digits>` (a missing header, the legacy `sha1=` header, a truncated
 * digest, non-hex characters) is rejected without comparing. An empty `secret` is treated as
 * "not configured" and always fails closed. Never throws.
 *
 * @param secret - The webhook secret configured on the GitHub hook.
 * @param rawBody - The request body exactly as received (before any JSON parsing).
 * @param header - The value of the `X-Hub-Signature-256` header, if any.
 * @returns `true` only when the signature is well formed and matches.
 */
export function verifyGithubSignature(secret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (typeof secret !== 'string' || secret.length === 0) return false;
  if (!Buffer.isBuffer(rawBody)) return false;
  if (typeof header !== 'string') return false;

  const match = SIGNATURE_PATTERN.exec(header.trim());
  if (match === null) return false;

  const provided = Buffer.from(match[1], 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // Both are 32 bytes once the pattern matched; the length check keeps timingSafeEqual from throwing.
  return provided.length === expected.length && timingSafeEqual(provided, expected);
}
