import type { Build } from '@kiln/domain';

type B = Exclude<Build, { status: 'none' }>;

export interface TimeoutInput {
  builds: Iterable<B>;
  /** Milliseconds since the epoch. */
  now: number;
  /** A running build's timeout before its pipeline (with its own) was loaded. */
  defaultTimeoutMs: number;
  /** How long past the timeout the worker has to end the build itself. */
  graceMs: number;
}

export interface OverdueBuild {
  buildId: string;
  attempt: number;
  workerId: string | null;
  timeoutMs: number;
}

export interface TimeoutPlan {
  overdue: OverdueBuild[];
  /** When the next running build becomes overdue (ms since the epoch), or null if none runs. */
  nextDeadline: number | null;
}

/**
 * The scheduler's backstop for build timeouts. The agent enforces the pipeline's timeout
 * itself (kills the step, records `timed_out`); a build still running `graceMs` past its
 * timeout means the agent could not (hung, or cut off from the broker while heartbeats
 * still pass), so the scheduler ends it. One deadline timer per scheduler, never a poll.
 */
export function planTimeouts(input: TimeoutInput): TimeoutPlan {
  const overdue: OverdueBuild[] = [];
  let nextDeadline: number | null = null;
  for (const b of input.builds) {
    if (b.status !== 'running' || !b.startedAt) continue;
    const timeoutMs = b.timeoutMs ?? input.defaultTimeoutMs;
    const deadline = Date.parse(b.startedAt) + timeoutMs + input.graceMs;
    if (Number.isNaN(deadline)) continue;
    if (deadline <= input.now) overdue.push({ buildId: b.buildId, attempt: b.attempt, workerId: b.workerId, timeoutMs });
    else if (nextDeadline === null || deadline < nextDeadline) nextDeadline = deadline;
  }
  return { overdue, nextDeadline };
}

/** The reason recorded on a build the scheduler timed out. */
export function backstopReason(o: OverdueBuild, graceMs: number): string {
  const worker = o.workerId ? `worker ${o.workerId}` : 'its worker';
  return `build exceeded its ${duration(o.timeoutMs)} timeout and ${worker} did not end it within ${duration(graceMs)}; timed out by the scheduler`;
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
