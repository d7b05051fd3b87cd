import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { isKilnError, KilnError } from '@kiln/contracts';
import { Logger } from '@kiln/telemetry';
import { isUnavailable } from '@kiln/event-store';

const STATUS: Record<KilnError['code'], number> = {
  INVALID: 400,
  NOT_FOUND: 404,
  ILLEGAL_STATE: 409,
  CONCURRENCY: 409,
};

/** The one mapping of errors to HTTP: `{ error, message, details? }` with a fitting status. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    if (isKilnError(exception)) {
      res.status(STATUS[exception.code]).json({ error: exception.code.toLowerCase(), message: exception.message, ...(exception.details ? { details: exception.details } : {}) });
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const message = typeof body === 'string' ? body : ((body as { message?: string }).message ?? exception.message);
      res.status(status).json({ error: errorName(status), message: Array.isArray(message) ? message.join('; ') : message });
      return;
    }
    const e = exception as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'payload_too_large', message: e.message ?? 'request body too large' });
      return;
    }
    if (e?.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'invalid', message: `malformed JSON body: ${e.message}` });
      return;
    }
    if (isUnavailable(exception)) {
      this.log.warn('event store unavailable', { err: exception as Error });
      res.setHeader('Retry-After', '2');
      res.status(503).json({ error: 'unavailable', message: 'the event store (NATS JetStream) is not answering; retry shortly' });
      return;
    }
    this.log.error('unhandled error', { err: exception as Error });
    res.status(500).json({ error: 'internal', message: 'internal error' });
  }
}

function errorName(status: number): string {
  return (
    { 400: 'invalid', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'payload_too_large', 429: 'rate_limited' }[status] ??
    (status >= 500 ? 'internal' : 'error')
  );
}
