import { FinalBuildStatuses } from '@kiln/contracts';
import { followLog, readLogHistory } from '../api/log-follower';
import type { BuildView, LogLineView } from '../api/wire';
import type { Context } from '../context';
import { ExitCode } from '../errors';
import { buildDuration, statusMark, statusStyle } from '../format/builds';
import { LogFormatter } from '../format/log-lines';
import { shortId } from '../format/text';

/** How often and how patiently a followed build is watched; tests shorten these. */
export interface FollowTimings {
  /** Poll of the build's status while it waits to start (spinner label). */
  waitingPollMs: number;
  /** Poll of the build's status once it runs (to notice an end no log record reports). */
  runningPollMs: number;
  /** How long after the build is final its log's `end` record may still arrive. */
  endGraceMs: number;
  /** Wait before log-stream reconnect `n`. */
  reconnectBackoffMs(n: number): number;
}

export const DEFAULT_TIMINGS: FollowTimings = {
  waitingPollMs: 1_000,
  runningPollMs: 5_000,
  endGraceMs: 3_000,
  reconnectBackoffMs: (n) => Math.min(250 * 2 ** (n - 1), 5_000),
};

const WAITING = new Set(['queued', 'assigned']);
const isFinal = (s: string) => (FinalBuildStatuses as readonly string[]).includes(s);

/** Exit code for a build's result: 0 only when it succeeded. */
export function exitCodeFor(status: string): ExitCode {
  return status === 'succeeded' ? ExitCode.ok : ExitCode.failure;
}

/**
 * `logs -f` and `build trigger --follow`: prints the build's log live (NDJSON with `--json`)
 * until it ends, with a spinner on stderr while it waits for a worker, then a summary line
 * on stderr; returns the exit code of its result.
 *
 * The build's status is polled alongside the stream: a build that ends without a log `end`
 * record (cancelled while still queued, given up after lost workers) would otherwise be
 * followed forever.
 */
export async function followBuild(ctx: Context, buildId: string, initial: BuildView): Promise<number> {
  const timings: FollowTimings = { ...DEFAULT_TIMINGS, ...ctx.timings };
  const client = ctx.client();
  const fmt = new LogFormatter(ctx.out);
  const spinner = ctx.spinner();
  let build = initial;
  let sawLine = false;
  const waitLabel = (b: BuildView) =>
    b.status === 'assigned' ? `build ${shortId(buildId)} assigned to ${b.workerId ?? 'a worker'}, starting` : `build ${shortId(buildId)} queued, waiting for a worker`;
  if (WAITING.has(build.status)) spinner.start(waitLabel(build));

  const stop = new AbortController();
  let finalSince: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      build = await client.getBuild(buildId);
    } catch {
      /* the stream reports real trouble; a failed poll is retried on the next tick */
    }
    if (!WAITING.has(build.status) || sawLine) spinner.stop();
    else spinner.update(waitLabel(build));
    if (isFinal(build.status)) {
      finalSince ??= ctx.now();
      if (ctx.now() - finalSince >= timings.endGraceMs) {
        stop.abort(new EndedWithoutLog(build.status));
        return;
      }
    }
    const next = finalSince !== null ? Math.min(timings.endGraceMs, 1_000) : WAITING.has(build.status) ? timings.waitingPollMs : timings.runningPollMs;
    if (!stop.signal.aborted) timer = setTimeout(() => void poll(), next);
  };
  timer = setTimeout(() => void poll(), WAITING.has(build.status) ? timings.waitingPollMs : timings.runningPollMs);

  let last: string | null = null;
  const onLine = (line: LogLineView) => {
    if (!sawLine) {
      sawLine = true;
      spinner.stop();
    }
    last = line.cursor;
    if (ctx.json) ctx.printJson(line, false);
    else ctx.print(fmt.format(line));
  };
  let status: string;
  try {
    const r = await followLog(client, buildId, {
      signal: stop.signal,
      backoffMs: timings.reconnectBackoffMs,
      onLine,
      onReconnect: ({ attempt, reason }) => {
        if (!ctx.json) {
          spinner.stop();
          ctx.note(ctx.err.style(`… log stream interrupted (${reason}); resuming (${attempt})`, 'dim'));
        }
      },
    });
    status = r.status;
  } catch (e) {
    if (!(e instanceof EndedWithoutLog)) throw e;
    // the stream stopped; whatever the log holds after the last printed line comes from
    // its history (also when the stream was down while the build ended), so nothing is lost
    const rest = await readLogHistory(client, buildId, { after: last, onLine, backoffMs: timings.reconnectBackoffMs });
    status = rest.status ?? e.status;
  } finally {
    clearTimeout(timer);
    stop.abort();
    spinner.stop();
  }

  if (ctx.json) ctx.printJson({ end: { buildId, status, complete: true } }, false);
  else printSummary(ctx, await client.getBuild(buildId).catch(() => build), status);
  return exitCodeFor(status);
}

/** `✓ build 1234abcd succeeded in 12.3s` on stderr, coloured by its result. */
export function printSummary(ctx: Context, build: BuildView, status: string): void {
  const exit = build.exitCode !== null && status !== 'succeeded' ? ` (exit ${build.exitCode})` : '';
  const took = build.startedAt && isFinal(build.status) ? ` in ${buildDuration(build, ctx.now())}` : '';
  ctx.note(ctx.err.style(`${statusMark(status)} build ${shortId(build.id)} ${status}${exit}${took}`, 'bold', ...statusStyle(status)));
}

/**
 * The build is final but no end record came over the stream within the grace time: it
 * never ran (cancelled while queued), its worker was lost for good, or the stream is down.
 */
class EndedWithoutLog extends Error {
  constructor(readonly status: string) {
    super(`build ended ${status} without a log end record`);
  }
}
