import type { INestApplication } from '@nestjs/common';
import type express from 'express';

/** Default largest request body (webhooks and API), 5 MiB. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

type Parser = ReturnType<typeof express.raw>;

/**
 * Installs a body parser on `path` whose failures answer with Kiln's JSON error shape
 * (413 for an oversized body, 400 for malformed JSON) instead of express's HTML page.
 */
export function useBodyParser(app: INestApplication, path: string, kind: 'raw' | 'json', limit = MAX_BODY_BYTES): void {
  // loaded here, not with the module: processes without HTTP (every build agent) never load express
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express = require('express') as typeof import('express');
  const parser: Parser = kind === 'raw' ? express.raw({ type: () => true, limit }) : express.json({ limit });
  app.use(path, (req: express.Request, res: express.Response, next: express.NextFunction) =>
    parser(req, res, (err?: { status?: number; type?: string; message?: string }) => {
      if (!err) return next();
      if (err.type === 'entity.too.large') {
        res.status(413).json({ error: 'payload_too_large', message: `request body exceeds ${limit} bytes` });
      } else if (err.type === 'entity.parse.failed') {
        res.status(400).json({ error: 'invalid', message: `malformed JSON body: ${err.message}` });
      } else {
        res.status(err.status ?? 400).json({ error: 'invalid', message: err.message ?? 'unreadable body' });
      }
    }),
  );
}
