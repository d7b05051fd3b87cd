import { Build, FINAL } from '@kiln/domain';

/** What one state of the leased build, as the agent's build watch delivers it, says about the lease. */
export type LeaseVerdict =
  /** Not decided by this state: wait for the next event. */
  | null
  /** Start the build. */
  | { verdict: 'assigned'; abort: false }
  /** The lease is void (why), and whatever runs for it stops when `abort`. */
  | { verdict: string; abort: boolean };

/**
 * Whether a leased build can start here (pure: the build watch calls it for each state).
 * Queued at the lease's attempt counts as assigned: the lease is the assignment, and the
 * start records it when the scheduler has not yet, so starting does not wait for that
 * append. Only when nothing is known to follow that state, though (`pending`: events after
 * it in the stream when it was delivered): the event behind it is most often the
 * scheduler's assignment, and a start decided on the older state would only meet a
 * conflict and a retry, ~20 ms on the path to the first step.
 */
export function leaseVerdict(state: Build, attempt: number, workerId: string, pending: number): LeaseVerdict {
  if (state.status === 'none') return null;
  if (state.attempt < attempt && !FINAL.has(state.status)) return null; // history before this attempt
  if (state.attempt > attempt || FINAL.has(state.status)) return { verdict: `build is ${state.status}, attempt ${state.attempt}`, abort: true };
  if (state.cancelRequested) return { verdict: 'cancel requested', abort: true };
  if (state.workerId === workerId && (state.status === 'assigned' || state.status === 'running')) return { verdict: 'assigned', abort: false };
  if (state.status === 'queued') return pending === 0 ? { verdict: 'assigned', abort: false } : null;
  if (state.workerId && state.workerId !== workerId) return { verdict: `build is assigned to worker ${state.workerId}`, abort: false };
  return null;
}
