import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidError, parseLogCursor } from '@kiln/contracts';
import { LogReader, MAX_HISTORY_LIMIT } from './log-reader';
import { LogStreams } from './log-streams.service';

const DEFAULT_LIMIT = 1000;

/**
 * A build's log over HTTP: pages of JSON by cursor, the raw text, and a live Server-Sent
 * Events stream that resumes from `Last-Event-ID`.
 */
@Controller('builds/:id/logs')
export class LogsController {
  constructor(
    private readonly reader: LogReader,
    private readonly streams: LogStreams,
  ) {}

  /** `?cursor=<seq>-<index>&limit=1..5000&step=<index>` → a page after the cursor. */
  @Get()
  async page(@Param('id') id: string, @Query('cursor') cursor?: string, @Query('limit') limit?: string, @Query('step') step?: string) {
    const page = await this.reader.history(id, {
      after: parseLogCursor(cursor),
      limit: intParam('limit', limit, 1, MAX_HISTORY_LIMIT) ?? DEFAULT_LIMIT,
      step: intParam('step', step, 0),
    });
    return {
      items: page.lines,
      nextCursor: page.nextCursor,
      complete: page.end !== null,
      ...(page.end ? { status: page.end.status } : {}),
    };
  }

  /** Every line that exists now as text/plain (`?step=` keeps one step's lines). */
  @Get('raw')
  async raw(@Param('id') id: string, @Res() res: Response, @Query('step') step?: string) {
    await this.streams.raw(id, intParam('step', step, 0), res);
  }

  /** Server-Sent Events from `Last-Event-ID` (or `?cursor=`) until the end record. */
  @Get('stream')
  stream(@Param('id') id: string, @Res() res: Response, @Query('cursor') cursor?: string, @Headers('last-event-id') lastEventId?: string) {
    const after = parseLogCursor(lastEventId ? lastEventId : cursor);
    this.streams.events(id, after, res);
  }
}

function intParam(name: string, raw: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new InvalidError(`${name} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}`);
  }
  return n;
}
