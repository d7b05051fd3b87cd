import type { IncomingMessage } from 'node:http';
import { presentedToken } from './admin-token';
import { RateLimiter } from './rate-limiter';
import { Principal, TokenStore } from './token-store';

export type Decision = { ok: true; principal: Principal } | { ok: false; status: 401 | 403 | 429; message: string; retryAfter?: number };

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The one authorization rule for `/api/*` (controllers and the gateway's proxied routes):
 * a valid token (401), a scope that allows the method (read tokens: GET only; 403), and
 * the token's rate limit (429 with Retry-After).
 */
export function authorize(req: IncomingMessage, tokens: TokenStore, limiter: RateLimiter): Decision {
  const principal = tokens.verify(presentedToken(req));
  if (!principal) return { ok: false, status: 401, message: 'missing or invalid bearer token' };
  if (principal.scope === 'read' && !READ_METHODS.has(req.method ?? 'GET')) {
    return { ok: false, status: 403, message: `token "${principal.name}" is read-only` };
  }
  const wait = limiter.take(principal.tokenId);
  if (wait > 0) return { ok: false, status: 429, message: `rate limit exceeded for token "${principal.name}"`, retryAfter: wait };
  return { ok: true, principal };
}
