import { BuildEvent, WorkerEvent } from '@kiln/contracts';
import { Build, buildDecider, Worker, workerDecider } from '@kiln/domain';
import { planScheduling, SchedulingAction } from './queue-policy';

type B = Exclude<Build, { status: 'none' }>;

/** ISO time `s` seconds after a fixed start; later builds get larger `s`. */
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

const source = { repoUrl: 'https://github.com/o/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };

const ev = {
  requested: (buildId: string, projectId: string, s: number): BuildEvent => ({
    type: 'BuildRequested',
    data: { buildId, projectId, trigger: 'push', deliveryId: `d-${buildId}`, source, requestedAt: at(s) },
  }),
  queued: (buildId: string, projectId: string, s: number): BuildEvent => ({ type: 'BuildQueued', data: { buildId, projectId, attempt: 1, queuedAt: at(s) } }),
  assigned: (buildId: string, workerId: string, attempt = 1): BuildEvent => ({ type: 'BuildAssigned', data: { buildId, workerId, attempt, assignedAt: at(900) } }),
  started: (buildId: string, workerId: string, attempt = 1): BuildEvent => ({ type: 'BuildStarted', data: { buildId, workerId, attempt, startedAt: at(901) } }),
  requeued: (buildId: string, attempt: number, s: number): BuildEvent => ({ type: 'BuildRequeued', data: { buildId, attempt, reason: 'worker lost', requeuedAt: at(s) } }),
  cancelRequested: (buildId: string): BuildEvent => ({ type: 'BuildCancelRequested', data: { buildId, reason: 'user', requestedAt: at(950) } }),
  cancelled: (buildId: string): BuildEvent => ({ type: 'BuildCancelled', data: { buildId, attempt: 1, reason: 'user', finishedAt: at(951) } }),
  succeeded: (buildId: string): BuildEvent => ({ type: 'BuildSucceeded', data: { buildId, attempt: 1, finishedAt: at(990) } }),
};

const wev = {
  provisioning: (workerId: string): WorkerEvent => ({ type: 'WorkerProvisioning', data: { workerId, driver: 'process', provisionedAt: at(0) } }),
  connected: (workerId: string): WorkerEvent => ({ type: 'WorkerConnected', data: { workerId, hostname: 'h', pid: 1, protocolVersion: 1, connectedAt: at(1) } }),
  warm: (workerId: string): WorkerEvent => ({ type: 'WorkerWarm', data: { workerId, warmAt: at(2), checks: ['git'] } }),
  leased: (workerId: string, buildId: string, projectId: string): WorkerEvent => ({
    type: 'WorkerLeased',
    data: { workerId, job: { buildId, projectId, attempt: 1, source }, leasedAt: at(900) },
  }),
  lost: (workerId: string, reason: string): WorkerEvent => ({ type: 'WorkerLost', data: { workerId, reason, lostAt: at(960) } }),
  retired: (workerId: string, reason: string): WorkerEvent => ({ type: 'WorkerRetired', data: { workerId, reason, retiredAt: at(960) } }),
};

/** A build's state, folded from its events. */
function build(...events: BuildEvent[]): B {
  const state = events.reduce((s, e) => buildDecider.evolve(s, e), buildDecider.initialState());
  if (state.status === 'none') throw new Error('no BuildRequested among the events');
  return state;
}

function worker(...events: WorkerEvent[]): Worker {
  return events.reduce((s, e) => workerDecider.evolve(s, e), workerDecider.initialState());
}

const requestedBuild = (id: string, projectId: string, s: number) => build(ev.requested(id, projectId, s));
const queuedBuild = (id: string, projectId: string, s: number) => build(ev.requested(id, projectId, s), ev.queued(id, projectId, s));
const assignedBuild = (id: string, projectId: string, workerId: string) => build(ev.requested(id, projectId, 0), ev.queued(id, projectId, 0), ev.assigned(id, workerId));
const runningBuild = (id: string, projectId: string, workerId: string) => build(ev.requested(id, projectId, 0), ev.queued(id, projectId, 0), ev.assigned(id, workerId), ev.started(id, workerId));

function plan(input: { builds: B[]; limits?: Record<string, number>; defaultLimit?: number; workers?: Record<string, Worker> }): SchedulingAction[] {
  return planScheduling({
    builds: input.builds,
    limits: new Map(Object.entries(input.limits ?? {})),
    defaultLimit: input.defaultLimit ?? 6,
    // the scheduler's view: a worker is "gone" once retired or lost
    workerGone: (id) => {
      const w = input.workers?.[id];
      return w && w.status !== 'none' && (w.status === 'retired' || w.status === 'lost') ? { status: w.status, reason: w.reason } : null;
    },
  });
}

const leases = (actions: SchedulingAction[]) => actions.flatMap((a) => (a.kind === 'lease' ? [a.build.buildId] : []));
const ids = (prefix: string, n: number, from = 1) => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

describe('planScheduling', () => {
  describe('requested builds', () => {
    it('queues a requested build and leases nothing for it yet', () => {
      const actions = plan({ builds: [requestedBuild('b1', 'p', 1)] });

      expect(actions).toEqual([{ kind: 'queue', buildId: 'b1' }]);
    });

    it('does nothing with a build that is finished', () => {
      const done = build(ev.requested('b1', 'p', 1), ev.queued('b1', 'p', 1), ev.assigned('b1', 'w1'), ev.started('b1', 'w1'), ev.succeeded('b1'));
      const cancelled = build(ev.requested('b2', 'p', 2), ev.cancelled('b2'));

      expect(plan({ builds: [done, cancelled] })).toEqual([]);
    });
  });

  describe('queued builds of one project', () => {
    it('leases them oldest first, whatever order they come in', () => {
      const builds = [queuedBuild('b3', 'p', 3), queuedBuild('b1', 'p', 1), queuedBuild('b2', 'p', 2)];

      expect(leases(plan({ builds }))).toEqual(['b1', 'b2', 'b3']);
    });

    it('orders builds queued at the same instant by build id', () => {
      const builds = [queuedBuild('bb', 'p', 1), queuedBuild('ba', 'p', 1), queuedBuild('bc', 'p', 1)];

      expect(leases(plan({ builds }))).toEqual(['ba', 'bb', 'bc']);
    });

    it('takes a requeued build by the time it was requeued', () => {
      const requeued = build(ev.requested('old', 'p', 1), ev.queued('old', 'p', 1), ev.assigned('old', 'w1'), ev.requeued('old', 2, 20));
      const builds = [requeued, queuedBuild('b10', 'p', 10), queuedBuild('b30', 'p', 30)];

      const actions = plan({ builds });

      expect(leases(actions)).toEqual(['b10', 'old', 'b30']);
      expect(actions.find((a) => a.kind === 'lease' && a.build.buildId === 'old')).toMatchObject({ build: { attempt: 2, workerId: null } });
    });
  });

  describe('per-project limit', () => {
    it('counts assigned and running builds against the limit', () => {
      const builds = [assignedBuild('a1', 'p', 'w1'), runningBuild('r1', 'p', 'w2'), ...ids('q', 4).map((id, i) => queuedBuild(id, 'p', 10 + i))];

      expect(leases(plan({ builds, limits: { p: 3 } }))).toEqual(['q1']);
    });

    it('leases nothing for a project at its limit', () => {
      const builds = [runningBuild('r1', 'p', 'w1'), runningBuild('r2', 'p', 'w2'), queuedBuild('q1', 'p', 10)];

      expect(leases(plan({ builds, limits: { p: 2 } }))).toEqual([]);
    });

    it('uses the default limit for a project without one', () => {
      const builds = ids('q', 5).map((id, i) => queuedBuild(id, 'p', i));

      expect(leases(plan({ builds, defaultLimit: 2 }))).toEqual(['q1', 'q2']);
    });

    it('does not count finished builds', () => {
      const done = build(ev.requested('d1', 'p', 0), ev.queued('d1', 'p', 0), ev.assigned('d1', 'w1'), ev.started('d1', 'w1'), ev.succeeded('d1'));
      const builds = [done, queuedBuild('q1', 'p', 1)];

      expect(leases(plan({ builds, limits: { p: 1 } }))).toEqual(['q1']);
    });

    it("does not let one project's running builds use another project's limit", () => {
      const builds = [runningBuild('a-run', 'A', 'w1'), runningBuild('a-run2', 'A', 'w2'), queuedBuild('a1', 'A', 1), queuedBuild('b1', 'B', 2)];

      expect(leases(plan({ builds, limits: { A: 2, B: 1 } }))).toEqual(['b1']);
    });
  });

  describe('fairness across projects', () => {
    const busyA = ids('a', 10).map((id, i) => queuedBuild(id, 'A', i + 1));
    const newerB = queuedBuild('b1', 'B', 100);

    it('with A limited to 6 of its 10 queued builds: leases A its 6 oldest, and B its build', () => {
      const actions = plan({ builds: [...busyA, newerB], limits: { A: 6, B: 6 } });

      const leased = leases(actions);
      expect(leased.filter((id) => id.startsWith('a'))).toEqual(ids('a', 6));
      expect(leased).toContain('b1');
      expect(leased).toHaveLength(7);
    });

    it("leases B's newer build, not A's older ones, once A is at its limit", () => {
      const aRunning = ids('ar', 6).map((id, i) => runningBuild(id, 'A', `w${i}`));

      const actions = plan({ builds: [...aRunning, ...busyA, newerB], limits: { A: 6, B: 6 } });

      expect(leases(actions)).toEqual(['b1']);
    });

    // BUG (reported): queue-policy.ts documents "round-robin across projects (one busy project
    // cannot starve another)", but picks the globally oldest head, so B comes after every one
    // of A's older builds; SchedulerService.reconcile stops at the first lease that finds no
    // worker, so with fewer free workers than A's backlog B waits behind all of it.
    // Flip to `it` once fixed.
    it("round-robins: with limits allowing all of A's builds, B's build is among the first two leases", () => {
      const actions = plan({ builds: [...busyA, newerB], limits: { A: 10, B: 10 } });

      const leased = leases(actions);
      expect(leased).toHaveLength(11);
      expect(leased.slice(0, 2).sort()).toEqual(['a1', 'b1']);
    });

    it('leases builds of several projects each in its own oldest-first order', () => {
      const builds = [queuedBuild('b2', 'B', 5), queuedBuild('a2', 'A', 4), queuedBuild('b1', 'B', 2), queuedBuild('a1', 'A', 1)];

      const leased = leases(plan({ builds }));

      expect(leased.filter((id) => id.startsWith('a'))).toEqual(['a1', 'a2']);
      expect(leased.filter((id) => id.startsWith('b'))).toEqual(['b1', 'b2']);
    });
  });

  describe('cancellation', () => {
    it('skips a queued build whose cancellation was requested, and leases the next', () => {
      const cancelling = build(ev.requested('c1', 'p', 1), ev.queued('c1', 'p', 1), ev.cancelRequested('c1'));
      const builds = [cancelling, queuedBuild('q2', 'p', 2)];

      const actions = plan({ builds, limits: { p: 1 } });

      expect(leases(actions)).toEqual(['q2']);
      expect(actions.some((a) => 'buildId' in a && a.buildId === 'c1')).toBe(false);
    });
  });

  describe('lost workers', () => {
    it('requeues a build whose worker was lost, with its attempt and the reason', () => {
      const builds = [assignedBuild('b1', 'p', 'w1')];
      const workers = { w1: worker(wev.provisioning('w1'), wev.connected('w1'), wev.warm('w1'), wev.leased('w1', 'b1', 'p'), wev.lost('w1', 'no heartbeat for 15 s')) };

      const actions = plan({ builds, workers });

      expect(actions).toEqual([{ kind: 'requeue', buildId: 'b1', attempt: 1, reason: expect.stringContaining('w1') }]);
      expect((actions[0] as { reason: string }).reason).toContain('no heartbeat for 15 s');
    });

    it('requeues a running build of a later attempt with that attempt', () => {
      const b = build(
        ev.requested('b1', 'p', 0),
        ev.queued('b1', 'p', 0),
        ev.assigned('b1', 'w1'),
        ev.requeued('b1', 2, 10),
        ev.assigned('b1', 'w2', 2),
        ev.started('b1', 'w2', 2),
      );
      const workers = {
        w1: worker(wev.provisioning('w1'), wev.lost('w1', 'gone')),
        w2: worker(wev.provisioning('w2'), wev.connected('w2'), wev.warm('w2'), wev.leased('w2', 'b1', 'p'), wev.lost('w2', 'agent exited')),
      };

      expect(plan({ builds: [b], workers })).toEqual([{ kind: 'requeue', buildId: 'b1', attempt: 2, reason: expect.stringContaining('w2') }]);
    });

    it('leaves a build alone while its worker is alive', () => {
      const builds = [runningBuild('b1', 'p', 'w1')];
      const workers = { w1: worker(wev.provisioning('w1'), wev.connected('w1'), wev.warm('w1'), wev.leased('w1', 'b1', 'p')) };

      expect(plan({ builds, workers })).toEqual([]);
    });

    it('does not requeue a queued build because the worker of its previous attempt is lost', () => {
      const b = build(ev.requested('b1', 'p', 0), ev.queued('b1', 'p', 0), ev.assigned('b1', 'w1'), ev.requeued('b1', 2, 10));
      const workers = { w1: worker(wev.provisioning('w1'), wev.lost('w1', 'gone')) };

      expect(plan({ builds: [b], workers })).toEqual([{ kind: 'lease', build: b }]);
    });

    // GAP (reported): the agent retires its worker after a crash without finishing the build
    // (build-runner agent.service.ts runJob catch → retire), and the worker decider allows
    // RetireWorker on a leased worker; such a build is never requeued and holds one of its
    // project's slots for good. Flip to `it` once handled.
    it('requeues an unfinished build whose worker retired', () => {
      const builds = [runningBuild('b1', 'p', 'w1')];
      const workers = { w1: worker(wev.provisioning('w1'), wev.connected('w1'), wev.warm('w1'), wev.leased('w1', 'b1', 'p'), wev.retired('w1', 'agent error: timeout')) };

      expect(plan({ builds, workers })).toEqual([{ kind: 'requeue', buildId: 'b1', attempt: 1, reason: expect.stringContaining('w1') }]);
    });
  });
});

describe('auto-cancel of superseded builds', () => {
  const supersedePlan = (builds: B[], autoCancel: string[]) =>
    planScheduling({ builds, limits: new Map(), defaultLimit: 6, workerGone: () => null, autoCancel: new Set(autoCancel) });
  it('cancels older unfinished pushes of the same branch and does not lease them', () => {
    const older = queuedBuild('old', 'p', 10);
    const running = runningBuild('run', 'p', 'w1');
    const newest = queuedBuild('new', 'p', 20);
    const actions = supersedePlan([older, running, newest], ['p']);
    expect(actions.filter((a) => a.kind === 'cancel').map((a) => a.buildId).sort()).toEqual(['old', 'run']);
    expect(leases(actions)).toEqual(['new']);
  });
  it('leaves projects without auto-cancel alone', () => {
    const actions = supersedePlan([queuedBuild('a', 'p', 10), queuedBuild('b', 'p', 20)], []);
    expect(actions.filter((a) => a.kind === 'cancel')).toEqual([]);
    expect(leases(actions).sort()).toEqual(['a', 'b']);
  });
});

describe('builds of a deleted project', () => {
  const deletedPlan = (builds: B[], deleted: string[], autoCancel: string[] = []) =>
    planScheduling({ builds, limits: new Map(), defaultLimit: 6, workerGone: () => null, autoCancel: new Set(autoCancel), deletedProjects: new Set(deleted) });
  const cancels = (actions: SchedulingAction[]) => actions.flatMap((a) => (a.kind === 'cancel' ? [`${a.buildId}: ${a.reason}`] : [])).sort();

  it('cancels every unfinished build of it (requested, queued, assigned, running) and queues or leases none', () => {
    const builds = [requestedBuild('req', 'gone', 1), queuedBuild('q', 'gone', 2), assignedBuild('as', 'gone', 'w1'), runningBuild('run', 'gone', 'w2'), build(ev.requested('done', 'gone', 0), ev.queued('done', 'gone', 0), ev.assigned('done', 'w3'), ev.started('done', 'w3'), ev.succeeded('done'))];
    const actions = deletedPlan(builds, ['gone']);
    expect(cancels(actions)).toEqual(['as: project gone was deleted', 'q: project gone was deleted', 'req: project gone was deleted', 'run: project gone was deleted']);
    expect(actions.filter((a) => a.kind === 'queue' || a.kind === 'lease')).toEqual([]);
  });

  it('asks once: a build whose cancellation is already requested is left to its worker', () => {
    const running = build(ev.requested('run', 'gone', 0), ev.queued('run', 'gone', 0), ev.assigned('run', 'w1'), ev.started('run', 'w1'), ev.cancelRequested('run'));
    expect(cancels(deletedPlan([running], ['gone']))).toEqual([]);
  });

  it('leaves other projects alone, and does not also auto-cancel a deleted project\'s builds', () => {
    const actions = deletedPlan([queuedBuild('old', 'gone', 1), queuedBuild('new', 'gone', 2), queuedBuild('a', 'live', 10), queuedBuild('b', 'live', 20)], ['gone'], ['gone']);
    expect(cancels(actions)).toEqual(['new: project gone was deleted', 'old: project gone was deleted']);
    expect(leases(actions).sort()).toEqual(['a', 'b']);
  });
});
