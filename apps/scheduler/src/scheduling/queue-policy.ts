import type { Build, Worker } from '@kiln/domain';

type B = Exclude<Build, { status: 'none' }>;

export interface SchedulingInput {
  builds: Iterable<B>;
  /** Per-project concurrency limits (missing: the default). */
  limits: ReadonlyMap<string, number>;
  defaultLimit: number;
  workers: ReadonlyMap<string, Worker>;
}

export type SchedulingAction =
  | { kind: 'queue'; buildId: string }
  | { kind: 'lease'; build: B }
  | { kind: 'requeue'; buildId: string; attempt: number; reason: string };

/**
 * The scheduler's pure policy: from the current builds and workers, what to do now.
 * - requested builds are queued;
 * - queued builds get a lease, oldest first, round-robin across projects (one busy
 *   project cannot starve another), while their project runs fewer than its limit;
 * - builds whose worker was lost are requeued (the decider bounds attempts).
 */
export function planScheduling(input: SchedulingInput): SchedulingAction[] {
  const actions: SchedulingAction[] = [];
  const active = new Map<string, number>();
  const queuedByProject = new Map<string, B[]>();
  for (const b of input.builds) {
    if (b.status === 'requested') actions.push({ kind: 'queue', buildId: b.buildId });
    if (b.status === 'assigned' || b.status === 'running') {
      active.set(b.projectId, (active.get(b.projectId) ?? 0) + 1);
      const w = b.workerId ? input.workers.get(b.workerId) : undefined;
      if (w && w.status === 'lost') {
        actions.push({ kind: 'requeue', buildId: b.buildId, attempt: b.attempt, reason: `worker ${b.workerId} was lost: ${w.reason ?? 'no heartbeat'}` });
      }
    }
    if (b.status === 'queued' && !b.cancelRequested) {
      const list = queuedByProject.get(b.projectId) ?? [];
      list.push(b);
      queuedByProject.set(b.projectId, list);
    }
  }
  const heads = [...queuedByProject.entries()].map(([projectId, list]) => ({
    projectId,
    list: list.sort((x, y) => (x.queuedAt ?? '').localeCompare(y.queuedAt ?? '') || x.buildId.localeCompare(y.buildId)),
  }));
  // round-robin: take the oldest head among projects with capacity, one build at a time
  for (;;) {
    let pick: (typeof heads)[number] | null = null;
    for (const h of heads) {
      if (!h.list.length) continue;
      const limit = input.limits.get(h.projectId) ?? input.defaultLimit;
      if ((active.get(h.projectId) ?? 0) >= limit) continue;
      if (!pick || (h.list[0].queuedAt ?? '') < (pick.list[0].queuedAt ?? '')) pick = h;
    }
    if (!pick) break;
    const b = pick.list.shift()!;
    active.set(pick.projectId, (active.get(pick.projectId) ?? 0) + 1);
    actions.push({ kind: 'lease', build: b });
  }
  return actions;
}
