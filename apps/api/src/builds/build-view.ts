import type { Build } from '@kiln/domain';

/** The API shape of a build, from its folded state. */
export function buildView(state: Exclude<Build, { status: 'none' }>) {
  return {
    id: state.buildId,
    projectId: state.projectId,
    status: state.status === 'requested' ? 'queued' : state.status,
    trigger: state.trigger,
    attempt: state.attempt,
    workerId: state.workerId,
    source: state.source,
    cancelRequested: state.cancelRequested,
    reason: state.reason,
    exitCode: state.exitCode,
    requestedAt: state.requestedAt,
    queuedAt: state.queuedAt,
    startedAt: state.startedAt,
    finishedAt: state.finishedAt,
    steps: state.steps.map((s) => ({
      index: s.index,
      name: s.name,
      status: s.status,
      exitCode: s.exitCode,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
      durationMs: s.durationMs,
    })),
  };
}
