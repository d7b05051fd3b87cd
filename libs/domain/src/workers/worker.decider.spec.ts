import { IllegalStateError, LeaseJob, WorkerEvent, workerCodec } from '@kiln/contracts';
import { given } from '@kiln/testing';
import { fold } from '../decider';
import { WorkerCommand, workerDecider } from './worker.decider';

const WORKER = 'wrk-docker-7f3a9c';
const T0 = '2024-05-14T09:00:00.000Z';
const T1 = '2024-05-14T09:00:03.412Z';
const T2 = '2024-05-14T09:00:07.980Z';
const T3 = '2024-05-14T09:30:01.100Z';
const T4 = '2024-05-14T09:45:12.000Z';

const source = {
  repoUrl: 'https://github.com/acme/web-frontend.git',
  ref: 'refs/heads/main',
  sha: '3f2a9c8e1b7d4f6a0c5e9b2d8f1a7c3e6b4d0f9a',
  branch: 'main',
  author: 'Ada Lovelace',
  message: 'Fix flaky login test',
};
const job: LeaseJob = { buildId: 'b_01HZX3K9Q7M2V8RTN4WJ6YCD5E', projectId: 'proj-web-frontend', attempt: 1, source };
const otherJob: LeaseJob = { buildId: 'b_01HZX4B2C8D9E0F1G2H3J4K5M6', projectId: 'proj-api', attempt: 1, source };

const provisioning: WorkerEvent = { type: 'WorkerProvisioning', data: { workerId: WORKER, driver: 'docker', provisionedAt: T0 } };
const connected: WorkerEvent = {
  type: 'WorkerConnected',
  data: { workerId: WORKER, hostname: 'kiln-agent-7f3a9c', pid: 4127, protocolVersion: 1, connectedAt: T1 },
};
const warm: WorkerEvent = { type: 'WorkerWarm', data: { workerId: WORKER, warmAt: T2, checks: ['docker', 'git', 'disk'] } };
const leased = (j: LeaseJob = job, at = T3): WorkerEvent => ({ type: 'WorkerLeased', data: { workerId: WORKER, job: j, leasedAt: at } });
const retired: WorkerEvent = { type: 'WorkerRetired', data: { workerId: WORKER, reason: 'build finished', retiredAt: T4 } };
const lost: WorkerEvent = { type: 'WorkerLost', data: { workerId: WORKER, reason: 'no heartbeat for 30s', lostAt: T4 } };

const isProvisioning = [provisioning];
const isWarming = [provisioning, connected];
const isWarm = [...isWarming, warm];
const isLeased = [...isWarm, leased()];

const provision: WorkerCommand = { type: 'ProvisionWorker', workerId: WORKER, driver: 'docker', now: T0 };
const connect: WorkerCommand = { type: 'ConnectWorker', hostname: 'kiln-agent-7f3a9c', pid: 4127, protocolVersion: 1, now: T1 };
const markWarm: WorkerCommand = { type: 'MarkWarm', checks: ['docker', 'git', 'disk'], now: T2 };
const lease = (j: LeaseJob = job, allowCold = false): WorkerCommand => ({ type: 'LeaseWorker', job: j, allowCold, now: T3 });
const retire: WorkerCommand = { type: 'RetireWorker', reason: 'build finished', now: T4 };
const markLost: WorkerCommand = { type: 'MarkLost', reason: 'no heartbeat for 30s', now: T4 };

describe('worker decider', () => {
  describe('lifecycle', () => {
    it('provisions a new worker', () => {
      given(workerDecider, []).when(provision).then([provisioning]);
    });

    it('rejects provisioning the same worker twice', () => {
      given(workerDecider, isProvisioning).when(provision).thenThrows(IllegalStateError, new RegExp(`worker ${WORKER} already exists`));
    });

    it('connects: provisioning → warming', () => {
      given(workerDecider, isProvisioning).when(connect).then([connected]);
    });

    it('marks warm: warming → warm', () => {
      given(workerDecider, isWarming).when(markWarm).then([warm]);
    });

    it('leases a warm worker', () => {
      given(workerDecider, isWarm).when(lease()).then([leased()]);
    });

    it('retires a leased worker', () => {
      given(workerDecider, isLeased).when(retire).then([retired]);
    });

    it('marks a leased worker lost', () => {
      given(workerDecider, isLeased).when(markLost).then([lost]);
    });

    it.each([
      ['provisioning', isProvisioning],
      ['warming', isWarming],
      ['warm', isWarm],
    ])('retires or loses a %s worker', (_status, events) => {
      given(workerDecider, events).when(retire).then([retired]);
      given(workerDecider, events).when(markLost).then([lost]);
    });

    it('emits only schema-valid events', () => {
      const commands = [provision, connect, markWarm, lease(), retire];
      const history: WorkerEvent[] = [];
      for (const c of commands) {
        const out = workerDecider.decide(c, fold(workerDecider, history));
        for (const e of out) expect(() => workerCodec.validate(e)).not.toThrow();
        history.push(...out);
      }
      expect(history.map((e) => e.type)).toEqual(['WorkerProvisioning', 'WorkerConnected', 'WorkerWarm', 'WorkerLeased', 'WorkerRetired']);
    });
  });

  describe('idempotent repeats', () => {
    it('ignores a second connect', () => {
      given(workerDecider, isWarming).when(connect).then([]);
      given(workerDecider, isWarm).when(connect).then([]);
      given(workerDecider, isLeased).when(connect).then([]);
    });

    it('ignores MarkWarm once warm or leased', () => {
      given(workerDecider, isWarm).when(markWarm).then([]);
      given(workerDecider, isLeased).when(markWarm).then([]);
    });

    it('ignores a second lease for the same build attempt', () => {
      given(workerDecider, isLeased).when(lease()).then([]);
    });
  });

  describe('MarkWarm', () => {
    it('rejects a worker that has not connected', () => {
      given(workerDecider, isProvisioning)
        .when(markWarm)
        .thenThrows(IllegalStateError, new RegExp(`MarkWarm: worker ${WORKER} is provisioning, not connected`));
    });
  });

  describe('LeaseWorker', () => {
    it.each([
      ['provisioning', isProvisioning],
      ['warming', isWarming],
    ])('rejects a %s worker', (status, events) => {
      given(workerDecider, events)
        .when(lease())
        .thenThrows(IllegalStateError, new RegExp(`LeaseWorker: worker ${WORKER} is ${status}, not warm`));
    });

    it.each([
      ['provisioning', isProvisioning],
      ['warming', isWarming],
    ])('leases a %s worker when allowCold', (_status, events) => {
      given(workerDecider, events).when(lease(job, true)).then([leased()]);
    });

    it('rejects another build while leased', () => {
      given(workerDecider, isLeased)
        .when(lease(otherJob))
        .thenThrows(IllegalStateError, new RegExp(`worker ${WORKER} is leased to build ${job.buildId}`));
    });

    it('rejects another attempt of the same build while leased', () => {
      given(workerDecider, isLeased).when(lease({ ...job, attempt: 2 })).thenThrows(IllegalStateError, /is leased to build/);
    });

    it('rejects another build while leased even with allowCold', () => {
      given(workerDecider, isLeased).when(lease(otherJob, true)).thenThrows(IllegalStateError, /is leased to build/);
    });
  });

  describe('once gone', () => {
    const gone = [
      ['retired', [...isLeased, retired]],
      ['lost', [...isLeased, lost]],
    ] as const;

    it.each(gone)('RetireWorker and MarkLost are idempotent when %s', (_status, events) => {
      given(workerDecider, [...events]).when(retire).then([]);
      given(workerDecider, [...events]).when(markLost).then([]);
    });

    it.each(gone)('ConnectWorker, MarkWarm and LeaseWorker throw when %s', (status, events) => {
      for (const [type, command] of [
        ['ConnectWorker', connect],
        ['MarkWarm', markWarm],
        ['LeaseWorker', lease(otherJob, true)],
      ] as const) {
        given(workerDecider, [...events])
          .when(command)
          .thenThrows(IllegalStateError, new RegExp(`${type}: worker ${WORKER} is ${status}`));
      }
    });

    it('cannot be provisioned again', () => {
      given(workerDecider, [...isLeased, retired]).when(provision).thenThrows(IllegalStateError, /already exists/);
    });
  });

  describe('unknown worker', () => {
    it.each([
      ['ConnectWorker', connect],
      ['MarkWarm', markWarm],
      ['LeaseWorker', lease()],
      ['RetireWorker', retire],
      ['MarkLost', markLost],
    ] as const)('%s throws', (type, command) => {
      given(workerDecider, []).when(command).thenThrows(IllegalStateError, new RegExp(`${type}: worker does not exist`));
    });
  });

  describe('evolve', () => {
    it('folds the lifecycle into state', () => {
      expect(fold(workerDecider, [])).toEqual({ status: 'none' });
      expect(fold(workerDecider, isProvisioning)).toEqual({
        status: 'provisioning',
        workerId: WORKER,
        driver: 'docker',
        job: null,
        reason: null,
        provisionedAt: T0,
        warmAt: null,
      });
      expect(fold(workerDecider, isWarming)).toMatchObject({ status: 'warming', warmAt: null });
      expect(fold(workerDecider, isWarm)).toMatchObject({ status: 'warm', warmAt: T2, job: null });
      expect(fold(workerDecider, isLeased)).toMatchObject({ status: 'leased', job });
      expect(fold(workerDecider, [...isLeased, retired])).toMatchObject({ status: 'retired', reason: 'build finished', job });
      expect(fold(workerDecider, [...isLeased, lost])).toMatchObject({ status: 'lost', reason: 'no heartbeat for 30s' });
    });

    it('ignores events before WorkerProvisioning', () => {
      expect(fold(workerDecider, [connected, warm])).toEqual({ status: 'none' });
    });
  });
});

describe('ReleaseWorker (a reusable worker goes back to the pool)', () => {
  const job = {
    buildId: 'b-rel',
    projectId: 'p',
    attempt: 1,
    source: { repoUrl: '/r', ref: 'refs/heads/main', sha: null, branch: 'main', author: null, message: null },
  };
  const history: WorkerEvent[] = [
    { type: 'WorkerProvisioning', data: { workerId: 'w-rel', driver: 'process', provisionedAt: '2026-01-01T00:00:00.000Z' } },
    { type: 'WorkerConnected', data: { workerId: 'w-rel', hostname: 'h', pid: 1, protocolVersion: 1, connectedAt: '2026-01-01T00:00:01.000Z' } },
    { type: 'WorkerWarm', data: { workerId: 'w-rel', warmAt: '2026-01-01T00:00:02.000Z', checks: [] } },
    { type: 'WorkerLeased', data: { workerId: 'w-rel', job, leasedAt: '2026-01-01T00:00:03.000Z' } },
  ];
  it('releases the build it holds: warm again, idle since the release', () => {
    given(workerDecider, history)
      .when({ type: 'ReleaseWorker', buildId: 'b-rel', now: '2026-01-01T00:01:00.000Z' })
      .then([{ type: 'WorkerReleased', data: { workerId: 'w-rel', buildId: 'b-rel', releasedAt: '2026-01-01T00:01:00.000Z' } }]);
    const after = [...history, { type: 'WorkerReleased', data: { workerId: 'w-rel', buildId: 'b-rel', releasedAt: '2026-01-01T00:01:00.000Z' } } as WorkerEvent];
    const state = given(workerDecider, after).state;
    expect(state).toMatchObject({ status: 'warm', job: null, warmAt: '2026-01-01T00:01:00.000Z' });
  });
  it('refuses to release a build it does not hold', () => {
    given(workerDecider, history).when({ type: 'ReleaseWorker', buildId: 'other', now: 't' }).thenThrows(IllegalStateError, /does not hold/);
  });
});
