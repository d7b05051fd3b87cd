import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token used when `KILN_ADMIN_TOKEN` is unset (printed at start; for local use only). */
export const DEV_ADMIN_TOKEN = 'kiln-dev-token';

/** Checks `Authorization: Bearer <token>` (or `?access_token=` for EventSource, which cannot set headers). */
export function isAuthorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  let presented: string | null = null;
  if (header?.startsWith('Bearer ')) presented = header.slice(7).trim();
  if (!presented) {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('access_token');
    if (q) presented = q;
  }
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
