import { parseLogCursor } from '@kiln/contracts';
import { ApiError, CliError, describeCause, NetworkError } from '../errors';
import type { ApiClient } from './api-client';
import { SseParser } from './sse-parser';
import type { LogLineView } from './wire';

/** log-store sends a `: ping` every 15 s; three missed means the connection is dead. */
export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
/** Consecutive failed connections (with no new line in between) before giving up. */
export const DEFAULT_MAX_RETRIES = 10;

export interface FollowOptions {
  /** Resume after this cursor (`<seq>-<index>`); null: from the first line. */
  after?: string | null;
  /** Called for each new line, in order, exactly once; awaited before the next. */
  onLine(line: LogLineView): void | Promise<void>;
  /** Called before each reconnect, with why the previous connection ended. */
  onReconnect?(info: { attempt: number; after: string | null; reason: string }): void;
  idleTimeoutMs?: number;
  maxRetries?: number;
  /** Wait before reconnect number `attempt` (from 1); default 250 ms doubling to 5 s. */
  backoffMs?(attempt: number): number;
  /** Stops following: the pending call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface FollowResult {
  /** The build's result from the `end` event (`succeeded`, `failed`, ...). */
  status: string;
  /** Cursor of the last line delivered, or the `after` given when none was. */
  lastCursor: string | null;
}

/**
 * Follows a build's live log over SSE until its `end` event. A dropped connection, a
 * silent one or a 5xx is retried with `Last-Event-ID` = the last delivered line's cursor,
 * so the log continues with no gap; lines at or before that cursor are dropped should a
 * server resend them, so none is printed twice. A 4xx (unknown build, bad token) is thrown.
 */
export async function followLog(client: ApiClient, buildId: string, opts: FollowOptions): Promise<FollowResult> {
  let last = opts.after ?? null;
  let failures = 0;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxRetries = opts.maxRetries ?? DEFAULT_MAX_RETRIES;
  const backoff = opts.backoffMs ?? defaultBackoff;
  const stop = opts.signal;
  for (;;) {
    if (stop?.aborted) throw stop.reason;
    const ctrl = new AbortController();
    const onStop = () => ctrl.abort(stop?.reason);
    stop?.addEventListener('abort', onStop, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctrl.abort(new Error(`no data for ${Math.round(idleMs / 1000)} s`)), idleMs);
    };
    try {
      arm();
      const res = await client.openLogStream(buildId, last, ctrl.signal);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
          if (ev.event === 'end') return { status: parseEnd(ev.data), lastCursor: last };
          if (ev.event !== 'line') continue;
          const line = parseLine(ev.data);
          const cursor = ev.id ?? line.cursor;
          if (!isAfter(cursor, last)) continue;
          last = cursor;
          failures = 0;
          await opts.onLine(line);
        }
      }
      throw new Error('the server closed the log stream before its end');
    } catch (e) {
      if (stop?.aborted) throw stop.reason;
      // retry what a new connection may fix: network failures, a dropped or silent stream, 5xx;
      // not a 4xx (unknown build, bad token) nor a malformed event
      if (!isRetryable(e)) throw e;
      failures++;
      const reason = ctrl.signal.aborted && ctrl.signal.reason instanceof Error ? ctrl.signal.reason.message : describeCause(e);
      if (failures > maxRetries) throw new CliError(`lost the log stream of build ${buildId} after ${maxRetries} reconnects: ${reason}`, undefined, { cause: e });
      opts.onReconnect?.({ attempt: failures, after: last, reason });
      await sleep(backoff(failures), stop);
    } finally {
      clearTimeout(idle);
      stop?.removeEventListener('abort', onStop);
      ctrl.abort();
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Whether a new attempt may succeed: network failures, dropped streams, 5xx, 408, 429. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ApiError) return e.status >= 500 || e.status === 408 || e.status === 429;
  return !(e instanceof CliError) || e instanceof NetworkError;
}

export interface HistoryOptions {
  /** Read after this cursor; null: from the first line. */
  after?: string | null;
  onLine(line: LogLineView): void | Promise<void>;
  /** Lines per request (1-5000). */
  pageSize?: number;
  maxRetries?: number;
  backoffMs?(attempt: number): number;
}

export interface HistoryResult {
  /** The end record was reached. */
  complete: boolean;
  /** The build's result from the end record, when complete. */
  status?: string;
  lastCursor: string | null;
}

/**
 * Reads the log lines that exist now, page by page after `after`, up to the end record or
 * the last line; a failed page (network, 5xx) is retried like a dropped stream.
 */
export async function readLogHistory(client: ApiClient, buildId: string, opts: HistoryOptions): Promise<HistoryResult> {
  const pageSize = opts.pageSize ?? 1000;
  const maxRetries = opts.maxRetries ?? DEFAULT_MAX_RETRIES;
  const backoff = opts.backoffMs ?? defaultBackoff;
  let last = opts.after ?? null;
  let failures = 0;
  for (;;) {
    let page;
    try {
      page = await client.logPage(buildId, { cursor: last, limit: pageSize });
      failures = 0;
    } catch (e) {
      if (!isRetryable(e) || ++failures > maxRetries) throw e;
      await sleep(backoff(failures));
      continue;
    }
    for (const line of page.items) {
      if (!isAfter(line.cursor, last)) continue;
      last = line.cursor;
      await opts.onLine(line);
    }
    if (page.complete) return { complete: true, status: page.status, lastCursor: last };
    if (page.items.length < pageSize) return { complete: false, lastCursor: last };
  }
}

function defaultBackoff(n: number): number {
  return Math.min(250 * 2 ** (n - 1), 5_000);
}

/** Whether `cursor` comes after `last` (null: the start). Unparseable cursors are kept. */
export function isAfter(cursor: string, last: string | null): boolean {
  if (last === null) return true;
  try {
    const a = parseLogCursor(cursor);
    const b = parseLogCursor(last);
    if (!a || !b) return true;
    return a.seq !== b.seq ? a.seq > b.seq : a.index > b.index;
  } catch {
    return cursor !== last;
  }
}

function parseLine(data: string): LogLineView {
  try {
    const v = JSON.parse(data) as LogLineView;
    if (v && typeof v.text === 'string' && typeof v.cursor === 'string') return v;
  } catch {
    /* below */
  }
  throw new CliError(`malformed log event from the server: ${data.slice(0, 200)}`);
}

function parseEnd(data: string): string {
  try {
    const v = JSON.parse(data) as { status?: unknown };
    if (typeof v.status === 'string') return v.status;
  } catch {
    /* below */
  }
  throw new CliError(`malformed end event from the server: ${data.slice(0, 200)}`);
}
