import type { IncomingMessage } from 'node:http';

/** The token used when `KILN_ADMIN_TOKEN` is unset (printed at start; for local use only). */
export const DEV_ADMIN_TOKEN = 'kiln-dev-token';

/** The token a request presents: `Authorization: Bearer <token>`, or `?access_token=` (EventSource cannot set headers). */
export function presentedToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim() || null;
  return new URL(req.url ?? '/', 'http://x').searchParams.get('access_token');
}
