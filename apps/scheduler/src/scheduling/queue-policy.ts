import type { Build } from '@kiln/domain';

type B = Exclude<Build, { status: 'none' }>;

export interface SchedulingInput {
  builds: Iterable<B>;
  /** Per-project concurrency limits (missing: the default). */
  limits: ReadonlyMap<string, number>;
  defaultLimit: number;
  /** Projects that cancel a branch's older unfinished builds when a newer push arrives. */
  autoCancel?: ReadonlySet<string>;
  /** Deleted projects: their unfinished builds are cancelled; none is queued or leased. */
  deletedProjects?: ReadonlySet<string>;
  /** Whether a worker is gone (retired or lost), with the reason; null while it lives. */
  workerGone: (workerId: string) => { status: 'retired' | 'lost'; reason: string | null } | null;
}

export type SchedulingAction =
  | { kind: 'queue'; buildId: string }
  | { kind: 'lease'; build: B }
  | { kind: 'requeue'; buildId: string; attempt: number; reason: string }
  | { kind: 'cancel'; buildId: string; reason: string };

/**
 * The scheduler's pure policy: from the current builds and workers, what to do now.
 * - requested builds are queued;
 * - queued builds get a lease, oldest first, round-robin across projects (one busy
 *   project cannot starve another), while their project runs fewer than its limit;
 * - builds whose worker is gone (lost, or retired unfinished) are requeued (the decider
 *   bounds attempts; a build that did finish rejects the requeue);
 * - unfinished builds of a deleted project are cancelled (also those requested after the
 *   deletion by an ingest that had not seen it yet).
 */
export function planScheduling(input: SchedulingInput): SchedulingAction[] {
  const actions: SchedulingAction[] = [];
  const active = new Map<string, number>();
  const queuedByProject = new Map<string, B[]>();
  for (const b of input.builds) {
    const projectDeleted = input.deletedProjects?.has(b.projectId) ?? false;
    if (projectDeleted && !b.cancelRequested && (b.status === 'requested' || b.status === 'queued' || b.status === 'assigned' || b.status === 'running')) {
      actions.push({ kind: 'cancel', buildId: b.buildId, reason: `project ${b.projectId} was deleted` });
    }
    if (b.status === 'requested' && !projectDeleted) actions.push({ kind: 'queue', buildId: b.buildId });
    if (b.status === 'assigned' || b.status === 'running') {
      active.set(b.projectId, (active.get(b.projectId) ?? 0) + 1);
      const w = b.workerId ? input.workerGone(b.workerId) : null;
      // a worker gone while its build is unfinished (lost, or retired after an agent error)
      if (w) {
        actions.push({ kind: 'requeue', buildId: b.buildId, attempt: b.attempt, reason: `worker ${b.workerId} was ${w.status}: ${w.reason ?? 'no heartbeat'}` });
      }
    }
    if (b.status === 'queued' && !b.cancelRequested && !projectDeleted) {
      const list = queuedByProject.get(b.projectId) ?? [];
      list.push(b);
      queuedByProject.set(b.projectId, list);
    }
  }
  // superseded builds: with auto-cancel, only the newest push of a branch goes on
  const superseded = new Set<string>();
  if (input.autoCancel?.size) {
    const newest = new Map<string, B>();
    const all = [...input.builds];
    for (const b of all) {
      if (b.trigger !== 'push' || !b.source.branch || !input.autoCancel.has(b.projectId)) continue;
      const k = `${b.projectId}\u0000${b.source.branch}`;
      const n = newest.get(k);
      if (!n || b.requestedAt > n.requestedAt) newest.set(k, b);
    }
    for (const b of all) {
      if (b.trigger !== 'push' || !b.source.branch || !input.autoCancel.has(b.projectId) || b.cancelRequested || input.deletedProjects?.has(b.projectId)) continue;
      if (b.status !== 'requested' && b.status !== 'queued' && b.status !== 'assigned' && b.status !== 'running') continue;
      const n = newest.get(`${b.projectId}\u0000${b.source.branch}`)!;
      if (n.buildId !== b.buildId) {
        superseded.add(b.buildId);
        actions.push({ kind: 'cancel', buildId: b.buildId, reason: `superseded by build ${n.buildId} (a newer push to ${b.source.branch})` });
      }
    }
  }
  for (const [projectId, list] of queuedByProject) queuedByProject.set(projectId, list.filter((b) => !superseded.has(b.buildId)));
  const heads = [...queuedByProject.entries()].map(([projectId, list]) => ({
    projectId,
    list: list.sort((x, y) => (x.queuedAt ?? '').localeCompare(y.queuedAt ?? '') || x.buildId.localeCompare(y.buildId)),
  }));
  // round-robin: in each round every project with capacity gets its oldest queued build,
  // projects taken in the order of their oldest waiting build
  heads.sort((x, y) => (x.list[0].queuedAt ?? '').localeCompare(y.list[0].queuedAt ?? ''));
  for (let progressed = true; progressed; ) {
    progressed = false;
    for (const h of heads) {
      if (!h.list.length) continue;
      const limit = input.limits.get(h.projectId) ?? input.defaultLimit;
      if ((active.get(h.projectId) ?? 0) >= limit) continue;
      const b = h.list.shift()!;
      active.set(h.projectId, (active.get(h.projectId) ?? 0) + 1);
      actions.push({ kind: 'lease', build: b });
      progressed = true;
    }
  }
  return actions;
}
