import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks a GitLab `X-Gitlab-Token` header against the configured secret token.
 *
 * Both values are hashed with SHA-256 first and the two 32-byte digests are compared with
 * `timingSafeEqual`, so neither the content nor the length of the expected token leaks through
 * timing. An empty `expected` token is treated as "not configured" and always fails closed.
 * Never throws.
 *
 * @param expected - The secret token configured on the GitLab hook.
 * @param header - The value of the `X-Gitlab-Token` header, if any.
 * @returns `true` only when the header is present and equals `expected`.
 */
export function verifyGitlabToken(expected: string, header: string | undefined): boolean {
  if (typeof expected !== 'string' || expected.length === 0) return false;
  if (typeof header !== 'string') return false;

  const want = createHash('sha256').update(expected, 'utf8').digest();
  const got = createHash('sha256').update(header, 'utf8').digest();
  return timingSafeEqual(want, got);
}
