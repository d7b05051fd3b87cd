import { BuildEvent, LeaseJob, WorkerEvent } from '@kiln/contracts';
import { buildDecider, Worker, workerDecider } from '@kiln/domain';
import { chooseWorker, pastItsStart, planPool } from './pool-policy';

type W = Exclude<Worker, { status: 'none' }>;

/** ISO time `s` seconds after a fixed start. */
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

const job = (buildId: string, attempt = 1): LeaseJob => ({
  buildId,
  projectId: 'p',
  attempt,
  source: { repoUrl: 'https://github.com/o/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: null, message: null },
});

const ev = {
  provisioning: (workerId: string, s = 0): WorkerEvent => ({ type: 'WorkerProvisioning', data: { workerId, driver: 'process', provisionedAt: at(s) } }),
  connected: (workerId: string): WorkerEvent => ({ type: 'WorkerConnected', data: { workerId, hostname: 'h', pid: 1, protocolVersion: 1, connectedAt: at(100) } }),
  warm: (workerId: string, s: number): WorkerEvent => ({ type: 'WorkerWarm', data: { workerId, warmAt: at(s), checks: ['git'] } }),
  leased: (workerId: string, j: LeaseJob): WorkerEvent => ({ type: 'WorkerLeased', data: { workerId, job: j, leasedAt: at(500) } }),
  retired: (workerId: string): WorkerEvent => ({ type: 'WorkerRetired', data: { workerId, reason: 'ephemeral: build succeeded', retiredAt: at(900) } }),
  lost: (workerId: string): WorkerEvent => ({ type: 'WorkerLost', data: { workerId, reason: 'no heartbeat for 15 s', lostAt: at(900) } }),
};

/** A worker's state, folded from its events. */
function worker(...events: WorkerEvent[]): W {
  const state = events.reduce((s, e) => workerDecider.evolve(s, e), workerDecider.initialState());
  if (state.status === 'none') throw new Error('no WorkerProvisioning among the events');
  return state;
}

const provisioning = (id: string, s = 0) => worker(ev.provisioning(id, s));
const warming = (id: string, provisionedAt = 0) => worker(ev.provisioning(id, provisionedAt), ev.connected(id));
const warm = (id: string, warmAt = 200) => worker(ev.provisioning(id), ev.connected(id), ev.warm(id, warmAt));
const leased = (id: string, j: LeaseJob = job(`build-of-${id}`)) => worker(ev.provisioning(id), ev.connected(id), ev.warm(id, 200), ev.leased(id, j));
const retired = (id: string) => worker(ev.provisioning(id), ev.connected(id), ev.warm(id, 200), ev.retired(id));
const lost = (id: string) => worker(ev.provisioning(id), ev.lost(id));

const chosen = (workers: W[], j: LeaseJob) => {
  const choice = chooseWorker(workers, j);
  return choice && { workerId: choice.worker.workerId, cold: choice.cold };
};

describe('chooseWorker', () => {
  it('answers the worker already leased to the same build attempt (an idempotent retry), even when others are warm', () => {
    const workers = [warm('w-warm', 100), leased('w-held', job('b1')), warm('w-warm2', 150)];

    expect(chosen(workers, job('b1'))).toEqual({ workerId: 'w-held', cold: false });
  });

  it('does not answer a worker leased to another attempt of the same build', () => {
    const workers = [leased('w-old', job('b1', 1)), warm('w-warm')];

    expect(chosen(workers, job('b1', 2))).toEqual({ workerId: 'w-warm', cold: false });
  });

  it('picks the worker warm the longest, whatever order they come in', () => {
    const workers = [warm('w3', 300), warm('w1', 100), warm('w2', 200)];

    expect(chosen(workers, job('b1'))).toEqual({ workerId: 'w1', cold: false });
  });

  it('prefers a warm worker to a cold one that connected earlier', () => {
    const workers = [warming('w-cold', 0), warm('w-warm', 400)];

    expect(chosen(workers, job('b1'))).toEqual({ workerId: 'w-warm', cold: false });
  });

  it('takes a cold (connected, warming) worker only when none is warm, the earliest provisioned, marked cold', () => {
    const workers = [warming('w-late', 20), leased('w-busy'), warming('w-early', 10), provisioning('w-prov', 0)];

    expect(chosen(workers, job('b1'))).toEqual({ workerId: 'w-early', cold: true });
  });

  it('never chooses a worker still provisioning', () => {
    expect(chooseWorker([provisioning('w1'), provisioning('w2')], job('b1'))).toBeNull();
  });

  it('answers null when no worker can take the job', () => {
    expect(chooseWorker([], job('b1'))).toBeNull();
    expect(chooseWorker([leased('w1', job('other')), retired('w2'), lost('w3'), provisioning('w4')], job('b1'))).toBeNull();
  });

  it('does not answer a retired or lost worker that had held this very job', () => {
    const gone = [
      worker(ev.provisioning('w1'), ev.connected('w1'), ev.warm('w1', 200), ev.leased('w1', job('b1')), ev.lost('w1')),
      worker(ev.provisioning('w2'), ev.connected('w2'), ev.warm('w2', 200), ev.leased('w2', job('b1')), ev.retired('w2')),
    ];

    expect(chooseWorker(gone, job('b1'))).toBeNull();
  });
});

describe('planPool', () => {
  const plan = (workers: W[], opts: { minWarm?: number; maxWorkers?: number; waiting?: number } = {}) =>
    planPool({ workers, minWarm: opts.minWarm ?? 2, maxWorkers: opts.maxWorkers ?? 12, waiting: opts.waiting ?? 0 }).provision;

  it('provisions minWarm workers into an empty pool', () => {
    expect(plan([], { minWarm: 2 })).toBe(2);
  });

  it('keeps minWarm idle however many are busy: 2 leased and minWarm 2 → 2 more', () => {
    expect(plan([leased('w1'), leased('w2')], { minWarm: 2 })).toBe(2);
  });

  it.each([
    ['one warm', 1, [warm('i1')]],
    ['one warming', 1, [warming('i1')]],
    ['one provisioning', 1, [provisioning('i1')]],
    ['one warm and one provisioning', 0, [warm('i1'), provisioning('i2')]],
    ['three warm', 0, [warm('i1'), warm('i2'), warm('i3')]],
  ])('counts workers idle or on their way to warm: 2 leased plus %s → %i more', (_label, expected, idle) => {
    expect(plan([leased('w1'), leased('w2'), ...idle], { minWarm: 2 })).toBe(expected);
  });

  it('adds one worker per waiting build', () => {
    expect(plan([warm('i1'), warm('i2')], { minWarm: 2, waiting: 3 })).toBe(3);
    expect(plan([], { minWarm: 0, waiting: 2 })).toBe(2);
  });

  it('provisions nothing with minWarm 0 and no build waiting', () => {
    expect(plan([leased('w1')], { minWarm: 0 })).toBe(0);
  });

  it('never lets the pool grow past maxWorkers', () => {
    const busy = [leased('w1'), leased('w2'), leased('w3')];

    expect(plan(busy, { minWarm: 2, waiting: 5, maxWorkers: 6 })).toBe(3);
    expect(plan(busy, { minWarm: 2, waiting: 5, maxWorkers: 3 })).toBe(0);
  });

  it('provisions nothing, not a negative count, when the pool is already over maxWorkers', () => {
    const busy = [leased('w1'), leased('w2'), leased('w3'), leased('w4')];

    expect(plan(busy, { minWarm: 2, maxWorkers: 2 })).toBe(0);
  });

  describe('while a build starts', () => {
    const topUp = (workers: W[], opts: { waiting?: number; starting?: number }) =>
      planPool({ workers, minWarm: 3, maxWorkers: 12, waiting: opts.waiting ?? 0, starting: opts.starting ?? 0 });

    it('holds back topping up to minWarm while a warm worker still stands idle', () => {
      expect(topUp([leased('w1'), warm('i1'), warm('i2')], { starting: 1 })).toMatchObject({ provision: 0, deferred: 1 });
    });

    it('tops up at once when no build is starting', () => {
      expect(topUp([leased('w1'), warm('i1'), warm('i2')], { starting: 0 })).toMatchObject({ provision: 1, deferred: 0 });
    });

    it('never holds back for a build that waits for a worker', () => {
      expect(topUp([leased('w1'), warm('i1'), warm('i2')], { starting: 1, waiting: 1 })).toMatchObject({ provision: 2, deferred: 0 });
    });

    it('does not hold back when no warm worker is left idle', () => {
      expect(topUp([leased('w1'), leased('w2'), leased('w3')], { starting: 3 })).toMatchObject({ provision: 3, deferred: 0 });
      expect(topUp([leased('w1'), warming('i1')], { starting: 1 })).toMatchObject({ provision: 2, deferred: 0 });
    });
  });

  it('ignores retired and lost workers: they neither count as idle nor take room under maxWorkers', () => {
    const gone = [retired('r1'), retired('r2'), lost('l1'), lost('l2')];

    expect(plan(gone, { minWarm: 2, maxWorkers: 3 })).toBe(2);
  });
});

describe('planPool scale-down of idle workers past their TTL', () => {
  const t = (s: number) => Date.parse(at(s));
  it('retires idle warm workers idle longer than the TTL, oldest first, never below minWarm', () => {
    const workers = [warm('old1', 10), warm('old2', 20), warm('fresh', 590), leased('busy')];
    const plan = planPool({ workers, minWarm: 1, maxWorkers: 12, waiting: 0, now: t(600), idleTtlMs: 300_000 });
    expect(plan.provision).toBe(0);
    expect(plan.retire).toEqual(['old1', 'old2']);
  });
  it('keeps minWarm even when all are past the TTL, and says when the next one expires', () => {
    const workers = [warm('a', 10), warm('b', 20), warm('c', 400)];
    const plan = planPool({ workers, minWarm: 2, maxWorkers: 12, waiting: 0, now: t(500), idleTtlMs: 300_000 });
    expect(plan.retire).toEqual(['a']);
    const later = planPool({ workers: [warm('b', 20), warm('c', 400), warm('d', 450)], minWarm: 2, maxWorkers: 12, waiting: 0, now: t(330), idleTtlMs: 300_000 });
    expect(later.retire).toEqual(['b']);
    const none = planPool({ workers: [warm('c', 400), warm('d', 450), warm('e', 460)], minWarm: 2, maxWorkers: 12, waiting: 0, now: t(500), idleTtlMs: 300_000 });
    expect(none.retire).toEqual([]);
    expect(none.nextExpiry).toBe(t(400) + 300_000);
  });
  it('does not retire idle workers that queued builds are about to need', () => {
    const workers = [warm('a', 10), warm('b', 20), warm('c', 30)];
    const plan = planPool({ workers, minWarm: 1, maxWorkers: 12, waiting: 2, now: t(900), idleTtlMs: 300_000 });
    expect(plan.retire).toEqual([]);
  });
});

describe('pastItsStart: when a leased build stops holding back the top-up', () => {
  const source = { repoUrl: 'https://github.com/o/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };
  const b = 'b1';
  const history: BuildEvent[] = [
    { type: 'BuildRequested', data: { buildId: b, projectId: 'p', trigger: 'push', deliveryId: 'd', source, requestedAt: at(0) } },
    { type: 'BuildQueued', data: { buildId: b, projectId: 'p', attempt: 1, queuedAt: at(1) } },
    { type: 'BuildAssigned', data: { buildId: b, workerId: 'w1', attempt: 1, assignedAt: at(2) } },
    { type: 'BuildStarted', data: { buildId: b, workerId: 'w1', attempt: 1, startedAt: at(3) } },
    { type: 'PipelineLoaded', data: { buildId: b, attempt: 1, sha: 'abcdef1', steps: [{ name: 'one' }] } },
    { type: 'StepStarted', data: { buildId: b, attempt: 1, index: 0, name: 'one', startedAt: at(4) } },
  ];
  const after = (n: number) => history.slice(0, n).reduce((s, e) => buildDecider.evolve(s, e), buildDecider.initialState());

  it('not while the pool has not seen the build, or sees it requested, queued, assigned or loading its pipeline', () => {
    // the pool's view of the builds may lag the lease: that must not end the hold
    expect(pastItsStart(undefined)).toBe(false);
    for (let n = 1; n <= 5; n++) expect(pastItsStart(after(n))).toBe(false);
  });

  it('once its first step runs, or it ended', () => {
    expect(pastItsStart(after(6))).toBe(true);
    expect(pastItsStart(buildDecider.evolve(after(2), { type: 'BuildCancelled', data: { buildId: b, attempt: 1, reason: 'user', finishedAt: at(5) } }))).toBe(true);
  });
});
