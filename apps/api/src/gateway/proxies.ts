import type { INestApplication } from '@nestjs/common';
import type { Request, Response, NextFunction } from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { KilnConfig } from '@kiln/config';
import { authorize } from '../auth/authorize';
import { RateLimiter } from '../auth/rate-limiter';
import { TokenStore } from '../auth/token-store';

const LOGS = /^\/api\/builds\/[A-Za-z0-9_-]+\/logs(\/stream|\/raw)?(\?|$)/;

/**
 * The gateway's routes to other services: `/webhooks/*` to ingest (its signature is the
 * auth; the body passes through untouched so the signature still matches) and build logs
 * to log-store (bearer token checked here; SSE streams through unbuffered).
 */
export function installProxies(app: INestApplication, cfg: KilnConfig, tokens: TokenStore, limiter: RateLimiter): void {
  const bad = (res: Response, service: string) => (err: Error) => {
    if (!res.headersSent) res.status(502).json({ error: 'bad_gateway', message: `${service} did not answer: ${err.message}` });
  };
  const webhooks = createProxyMiddleware<Request, Response>({
    target: cfg.ingestUrl,
    changeOrigin: true,
    pathFilter: '/webhooks/**',
    on: { error: (err, _req, res) => bad(res as Response, 'ingest')(err) },
  });
  const logs = createProxyMiddleware<Request, Response>({
    target: cfg.logStoreUrl,
    changeOrigin: true,
    pathFilter: (path) => LOGS.test(path),
    pathRewrite: (path) => path.replace(/^\/api/, ''),
    on: { error: (err, _req, res) => bad(res as Response, 'log-store')(err) },
  });
  app.use(webhooks);
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!LOGS.test(req.url)) return next();
    const d = authorize(req, tokens, limiter);
    if (!d.ok) {
      if (d.retryAfter) res.setHeader('Retry-After', String(d.retryAfter));
      res.status(d.status).json({ error: { 401: 'unauthorized', 403: 'forbidden', 429: 'rate_limited' }[d.status], message: d.message });
      return;
    }
    return logs(req, res, next);
  });
}
