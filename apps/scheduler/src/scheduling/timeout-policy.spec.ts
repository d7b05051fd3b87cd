import { BuildEvent } from '@kiln/contracts';
import { Build, buildDecider } from '@kiln/domain';
import { backstopReason, planTimeouts } from './timeout-policy';

type B = Exclude<Build, { status: 'none' }>;

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const source = { repoUrl: 'https://github.com/o/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };

/** A build started at `startMs`, optionally with its pipeline (and timeout) loaded. */
function running(buildId: string, startMs: number, timeoutMs?: number, workerId = `w-${buildId}`): B {
  const events: BuildEvent[] = [
    { type: 'BuildRequested', data: { buildId, projectId: 'p', trigger: 'push', deliveryId: `d-${buildId}`, source, requestedAt: iso(0) } },
    { type: 'BuildQueued', data: { buildId, projectId: 'p', attempt: 1, queuedAt: iso(0) } },
    { type: 'BuildAssigned', data: { buildId, workerId, attempt: 1, assignedAt: iso(startMs) } },
    { type: 'BuildStarted', data: { buildId, workerId, attempt: 1, startedAt: iso(startMs) } },
  ];
  if (timeoutMs !== undefined) events.push({ type: 'PipelineLoaded', data: { buildId, attempt: 1, sha: 'abcdef1', steps: [{ name: 's' }], timeoutMs } });
  const s = events.reduce(buildDecider.evolve, buildDecider.initialState());
  if (s.status === 'none') throw new Error('unreachable');
  return s;
}

const queued = (): B => {
  const s = [
    { type: 'BuildRequested', data: { buildId: 'q', projectId: 'p', trigger: 'push', deliveryId: 'd-q', source, requestedAt: iso(0) } },
    { type: 'BuildQueued', data: { buildId: 'q', projectId: 'p', attempt: 1, queuedAt: iso(0) } },
  ].reduce((st, e) => buildDecider.evolve(st, e as BuildEvent), buildDecider.initialState());
  if (s.status === 'none') throw new Error('unreachable');
  return s;
};

describe('planTimeouts (the scheduler backstop for build timeouts)', () => {
  const base = { defaultTimeoutMs: 20 * 60_000, graceMs: 30_000 };

  it('times out a build running past its pipeline timeout plus grace', () => {
    const plan = planTimeouts({ ...base, builds: [running('a', 0, 60_000)], now: T0 + 60_000 + 30_000 });
    expect(plan.overdue).toEqual([{ buildId: 'a', attempt: 1, workerId: 'w-a', timeoutMs: 60_000 }]);
    expect(plan.nextDeadline).toBeNull();
  });

  it('leaves the worker its grace: not overdue one millisecond before', () => {
    const plan = planTimeouts({ ...base, builds: [running('a', 0, 60_000)], now: T0 + 89_999 });
    expect(plan.overdue).toEqual([]);
    expect(plan.nextDeadline).toBe(T0 + 90_000);
  });

  it('uses the default timeout while the pipeline is not loaded yet (a hung clone)', () => {
    const b = running('a', 0);
    expect(planTimeouts({ ...base, builds: [b], now: T0 + 20 * 60_000 + 29_999 }).overdue).toEqual([]);
    expect(planTimeouts({ ...base, builds: [b], now: T0 + 20 * 60_000 + 30_000 }).overdue.map((o) => o.timeoutMs)).toEqual([20 * 60_000]);
  });

  it('arms for the earliest deadline among running builds and ignores the others', () => {
    const plan = planTimeouts({ ...base, builds: [running('a', 0, 600_000), running('b', 10_000, 60_000), queued()], now: T0 + 1000 });
    expect(plan.overdue).toEqual([]);
    expect(plan.nextDeadline).toBe(T0 + 10_000 + 60_000 + 30_000);
  });

  it('never touches finished builds', () => {
    const done = buildDecider.evolve(running('a', 0, 1000), { type: 'BuildSucceeded', data: { buildId: 'a', attempt: 1, finishedAt: iso(500) } }) as B;
    expect(planTimeouts({ ...base, builds: [done], now: T0 + 3_600_000 })).toEqual({ overdue: [], nextDeadline: null });
  });

  it('says why, with the timeout, the worker and the grace', () => {
    expect(backstopReason({ buildId: 'a', attempt: 1, workerId: 'w1', timeoutMs: 60_000 }, 30_000)).toBe(
      'build exceeded its 60 s timeout and worker w1 did not end it within 30 s; timed out by the scheduler',
    );
  });
});
