import { BuildEvent, BuildEventData, IllegalStateError, buildCodec } from '@kiln/contracts';
import { given } from '@kiln/testing';
import { fold } from '../decider';
import { Build, BuildCommand, buildDecider, isFinal } from './build.decider';

const BUILD = 'b_01HZX3K9Q7M2V8RTN4WJ6YCD5E';
const PROJECT = 'proj-web-frontend';
const W1 = 'wrk-docker-7f3a9c';
const W2 = 'wrk-docker-2be81d';
const SHA = '3f2a9c8e1b7d4f6a0c5e9b2d8f1a7c3e6b4d0f9a';

const T0 = '2024-05-14T09:30:00.000Z';
const T1 = '2024-05-14T09:30:00.250Z';
const T2 = '2024-05-14T09:30:01.100Z';
const T3 = '2024-05-14T09:30:02.480Z';
const T4 = '2024-05-14T09:30:05.900Z';
const T5 = '2024-05-14T09:31:12.015Z';
const T6 = '2024-05-14T09:32:40.700Z';

const requestData: BuildEventData<'BuildRequested'> = {
  buildId: BUILD,
  projectId: PROJECT,
  trigger: 'push',
  deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  source: {
    repoUrl: 'https://github.com/acme/web-frontend.git',
    ref: 'refs/heads/main',
    sha: null,
    branch: 'main',
    author: 'Ada Lovelace',
    message: 'Fix flaky login test',
  },
  requestedAt: T0,
};

// ---- events ------------------------------------------------------------------------------

const requested: BuildEvent = { type: 'BuildRequested', data: requestData };
const queued: BuildEvent = { type: 'BuildQueued', data: { buildId: BUILD, projectId: PROJECT, attempt: 1, queuedAt: T1 } };
const assigned = (workerId = W1, attempt = 1): BuildEvent => ({
  type: 'BuildAssigned',
  data: { buildId: BUILD, workerId, attempt, assignedAt: T2 },
});
const started = (workerId = W1, attempt = 1): BuildEvent => ({
  type: 'BuildStarted',
  data: { buildId: BUILD, workerId, attempt, startedAt: T3 },
});
const pipelineLoaded = (attempt = 1): BuildEvent => ({
  type: 'PipelineLoaded',
  data: { buildId: BUILD, attempt, sha: SHA, steps: [{ name: 'install' }, { name: 'lint' }, { name: 'test' }] },
});
const cancelRequested: BuildEvent = {
  type: 'BuildCancelRequested',
  data: { buildId: BUILD, reason: 'cancelled by alice', requestedAt: T4 },
};
const requeued = (attempt: number): BuildEvent => ({
  type: 'BuildRequeued',
  data: { buildId: BUILD, attempt, reason: `worker ${W1} lost`, requeuedAt: T5 },
});

const isQueued = [requested, queued];
const isAssigned = [...isQueued, assigned()];
const isRunning = [...isAssigned, started()];
const isLoaded = [...isRunning, pipelineLoaded()];

const finals: Record<string, BuildEvent[]> = {
  succeeded: [...isLoaded, { type: 'BuildSucceeded', data: { buildId: BUILD, attempt: 1, finishedAt: T6 } }],
  failed: [...isLoaded, { type: 'BuildFailed', data: { buildId: BUILD, attempt: 1, reason: 'step test failed', exitCode: 1, finishedAt: T6 } }],
  timed_out: [...isLoaded, { type: 'BuildTimedOut', data: { buildId: BUILD, attempt: 1, reason: 'exceeded 30m', finishedAt: T6 } }],
  cancelled: [...isQueued, { type: 'BuildCancelled', data: { buildId: BUILD, attempt: 1, reason: 'cancelled by alice', finishedAt: T6 } }],
};
const finalCases = Object.entries(finals);

/** Every event a decision produces must satisfy the published schema of its type. */
function decideValid(events: BuildEvent[], command: BuildCommand): BuildEvent[] {
  const out = buildDecider.decide(command, fold(buildDecider, events));
  for (const e of out) expect(() => buildCodec.validate(e)).not.toThrow();
  return out;
}

// ---- commands ------------------------------------------------------------------------------

describe('build decider', () => {
  describe('RequestBuild', () => {
    it('requests a new build', () => {
      given(buildDecider, []).when({ type: 'RequestBuild', data: requestData }).then([requested]);
    });

    it('rejects a duplicate request', () => {
      given(buildDecider, [requested])
        .when({ type: 'RequestBuild', data: requestData })
        .thenThrows(IllegalStateError, new RegExp(`build ${BUILD} already exists`));
    });

    it('rejects a request for a build that has already finished', () => {
      given(buildDecider, finals.succeeded).when({ type: 'RequestBuild', data: requestData }).thenThrows(IllegalStateError, /already exists/);
    });
  });

  describe('commands on a build that does not exist', () => {
    const commands: BuildCommand[] = [
      { type: 'QueueBuild', now: T1 },
      { type: 'AssignBuild', workerId: W1, attempt: 1, now: T2 },
      { type: 'StartBuild', workerId: W1, attempt: 1, now: T3 },
      { type: 'LoadPipeline', attempt: 1, sha: SHA, steps: [] },
      { type: 'StartStep', attempt: 1, index: 0, name: 'install', now: T4 },
      { type: 'FinishStep', attempt: 1, index: 0, name: 'install', outcome: 'succeeded', exitCode: 0, durationMs: 10, now: T4 },
      { type: 'FinishBuild', attempt: 1, outcome: 'succeeded', reason: null, exitCode: 0, now: T6 },
      { type: 'CancelBuild', reason: 'cancelled by alice', now: T4 },
      { type: 'RequeueBuild', attempt: 1, reason: 'worker lost', maxAttempts: 3, now: T5 },
    ];
    it.each(commands.map((c) => [c.type, c] as const))('%s throws', (type, command) => {
      given(buildDecider, []).when(command).thenThrows(IllegalStateError, new RegExp(`${type}: build does not exist`));
    });
  });

  describe('QueueBuild', () => {
    it('queues a requested build as attempt 1', () => {
      given(buildDecider, [requested]).when({ type: 'QueueBuild', now: T1 }).then([queued]);
    });

    it('is idempotent once queued', () => {
      given(buildDecider, isQueued).when({ type: 'QueueBuild', now: T2 }).then([]);
    });

    it('does nothing for a build that is already further along', () => {
      given(buildDecider, isRunning).when({ type: 'QueueBuild', now: T4 }).then([]);
    });
  });

  describe('AssignBuild', () => {
    it('assigns a queued build to a worker', () => {
      given(buildDecider, isQueued).when({ type: 'AssignBuild', workerId: W1, attempt: 1, now: T2 }).then([assigned()]);
    });

    it('is idempotent for the same worker', () => {
      given(buildDecider, isAssigned).when({ type: 'AssignBuild', workerId: W1, attempt: 1, now: T3 }).then([]);
    });

    it('does nothing when the agent already started the build on that worker', () => {
      given(buildDecider, [...isQueued, started()]).when({ type: 'AssignBuild', workerId: W1, attempt: 1, now: T4 }).then([]);
    });

    it('rejects another worker while assigned', () => {
      given(buildDecider, isAssigned)
        .when({ type: 'AssignBuild', workerId: W2, attempt: 1, now: T3 })
        .thenThrows(IllegalStateError, new RegExp(`AssignBuild: build ${BUILD} is assigned`));
    });

    it('rejects another worker while running', () => {
      given(buildDecider, isRunning).when({ type: 'AssignBuild', workerId: W2, attempt: 1, now: T4 }).thenThrows(IllegalStateError, /is running/);
    });

    it('rejects a superseded attempt', () => {
      given(buildDecider, [...isRunning, requeued(2)])
        .when({ type: 'AssignBuild', workerId: W1, attempt: 1, now: T6 })
        .thenThrows(IllegalStateError, /attempt 1 is superseded \(current attempt 2\)/);
    });

    it('rejects a requested build that is not queued yet', () => {
      given(buildDecider, [requested])
        .when({ type: 'AssignBuild', workerId: W1, attempt: 0, now: T2 })
        .thenThrows(IllegalStateError, new RegExp(`AssignBuild: build ${BUILD} is requested`));
    });

    it.each(finalCases)('rejects a %s build', (status, events) => {
      given(buildDecider, events)
        .when({ type: 'AssignBuild', workerId: W2, attempt: 1, now: T6 })
        .thenThrows(IllegalStateError, new RegExp(`already ${status}`));
    });

    it('assigns the next attempt after a requeue', () => {
      given(buildDecider, [...isRunning, requeued(2)])
        .when({ type: 'AssignBuild', workerId: W2, attempt: 2, now: T6 })
        .then([{ type: 'BuildAssigned', data: { buildId: BUILD, workerId: W2, attempt: 2, assignedAt: T6 } }]);
    });
  });

  describe('StartBuild', () => {
    it('starts an assigned build on its worker', () => {
      given(buildDecider, isAssigned).when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T3 }).then([started()]);
    });

    it('starts a queued build when the agent is faster than the scheduler, recording the assignment too', () => {
      given(buildDecider, isQueued)
        .when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T3 })
        .then([{ type: 'BuildAssigned', data: { buildId: BUILD, workerId: W1, attempt: 1, assignedAt: T3 } }, started()]);
    });

    it('then takes the scheduler\'s assignment to that worker as done, and refuses one to another worker', () => {
      const agentFirst: BuildEvent[] = [...isQueued, { type: 'BuildAssigned', data: { buildId: BUILD, workerId: W1, attempt: 1, assignedAt: T3 } }, started()];
      given(buildDecider, agentFirst).when({ type: 'AssignBuild', workerId: W1, attempt: 1, now: T3 }).then([]);
      given(buildDecider, agentFirst).when({ type: 'AssignBuild', workerId: W2, attempt: 1, now: T3 }).thenThrows(IllegalStateError, /is running/);
    });

    it('is idempotent for the worker already running it', () => {
      given(buildDecider, isRunning).when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T4 }).then([]);
    });

    it('rejects a worker the build is not assigned to', () => {
      given(buildDecider, isAssigned)
        .when({ type: 'StartBuild', workerId: W2, attempt: 1, now: T3 })
        .thenThrows(IllegalStateError, new RegExp(`is assigned to worker ${W1}`));
    });

    it('rejects a worker other than the one running it', () => {
      given(buildDecider, isRunning)
        .when({ type: 'StartBuild', workerId: W2, attempt: 1, now: T4 })
        .thenThrows(IllegalStateError, new RegExp(`runs on worker ${W1}`));
    });

    it('rejects a start after cancellation was requested', () => {
      given(buildDecider, [...isAssigned, cancelRequested])
        .when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T4 })
        .thenThrows(IllegalStateError, /was cancelled/);
    });

    it('rejects a superseded attempt', () => {
      given(buildDecider, [...isRunning, requeued(2)])
        .when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T6 })
        .thenThrows(IllegalStateError, /attempt 1 is superseded/);
    });

    it.each(finalCases)('rejects a %s build', (status, events) => {
      given(buildDecider, events)
        .when({ type: 'StartBuild', workerId: W1, attempt: 1, now: T6 })
        .thenThrows(IllegalStateError, new RegExp(`StartBuild: build ${BUILD} already ${status}`));
    });
  });

  describe('LoadPipeline, StartStep and FinishStep', () => {
    const load: BuildCommand = { type: 'LoadPipeline', attempt: 1, sha: SHA, steps: [{ name: 'install' }, { name: 'lint' }, { name: 'test' }] };
    const startStep: BuildCommand = { type: 'StartStep', attempt: 1, index: 0, name: 'install', now: T4 };
    const finishStep: BuildCommand = {
      type: 'FinishStep',
      attempt: 1,
      index: 0,
      name: 'install',
      outcome: 'succeeded',
      exitCode: 0,
      durationMs: 4210,
      now: T5,
    };

    it('loads the pipeline of a running build', () => {
      given(buildDecider, isRunning).when(load).then([pipelineLoaded()]);
    });

    it('records the pipeline timeout so the scheduler can back it up', () => {
      given(buildDecider, isRunning)
        .when({ ...load, timeoutMs: 90_000 })
        .then([{ ...pipelineLoaded(), data: { ...pipelineLoaded().data, timeoutMs: 90_000 } } as BuildEvent]);
      const state = [...isRunning, { ...pipelineLoaded(), data: { ...pipelineLoaded().data, timeoutMs: 90_000 } } as BuildEvent].reduce(buildDecider.evolve, buildDecider.initialState());
      expect(state.status !== 'none' && state.timeoutMs).toBe(90_000);
    });

    describe('whether the pipeline deploys (the deployer skips a build whose pipeline has no deploy section)', () => {
      const loadedWith = (deploy: { environment: string } | null): BuildEvent =>
        ({ ...pipelineLoaded(), data: { ...pipelineLoaded().data, deploy } }) as BuildEvent;

      it.each([
        ['the environment of a deploy section', { environment: 'prod' }],
        ['null for a pipeline without one', null],
      ])('records %s', (_what, deploy) => {
        expect(decideValid(isRunning, { ...load, deploy })).toEqual([loadedWith(deploy)]);
        expect(fold(buildDecider, [...isRunning, loadedWith(deploy)])).toMatchObject({ deploy });
      });

      it('leaves it out when the agent did not say, and an event without it reads as unknown', () => {
        const [e] = decideValid(isRunning, load);
        expect(e.type === 'PipelineLoaded' && 'deploy' in e.data).toBe(false);
        expect(() => buildCodec.validate(pipelineLoaded())).not.toThrow();
        expect(fold(buildDecider, [...isRunning, pipelineLoaded()])).toHaveProperty('deploy', undefined);
      });

      it('forgets it when the build is requeued (the next attempt loads the pipeline again)', () => {
        expect(fold(buildDecider, [...isRunning, loadedWith(null), requeued(2)])).toHaveProperty('deploy', undefined);
      });

      it('the schema rejects a deploy without an environment', () => {
        expect(() => buildCodec.validate({ ...pipelineLoaded(), data: { ...pipelineLoaded().data, deploy: {} } } as BuildEvent)).toThrow();
      });
    });

    it('starts a step of a running build', () => {
      given(buildDecider, isLoaded)
        .when(startStep)
        .then([{ type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', startedAt: T4 } }]);
    });

    it('finishes a step of a running build', () => {
      given(buildDecider, isLoaded)
        .when(finishStep)
        .then([
          {
            type: 'StepFinished',
            data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', outcome: 'succeeded', exitCode: 0, durationMs: 4210, finishedAt: T5 },
          },
        ]);
    });

    it('records a failed step with its exit code', () => {
      given(buildDecider, isLoaded)
        .when({ ...finishStep, index: 2, name: 'test', outcome: 'failed', exitCode: 137, durationMs: 61_500 })
        .then([
          {
            type: 'StepFinished',
            data: { buildId: BUILD, attempt: 1, index: 2, name: 'test', outcome: 'failed', exitCode: 137, durationMs: 61_500, finishedAt: T5 },
          },
        ]);
    });

    describe.each([
      ['LoadPipeline', load],
      ['StartStep', startStep],
      ['FinishStep', finishStep],
    ] as const)('%s', (type, command) => {
      it('throws while queued', () => {
        given(buildDecider, isQueued)
          .when(command)
          .thenThrows(IllegalStateError, new RegExp(`${type}: build ${BUILD} is queued, not running`));
      });

      it('throws while assigned', () => {
        given(buildDecider, isAssigned).when(command).thenThrows(IllegalStateError, /is assigned, not running/);
      });

      it.each(finalCases)('throws once %s', (status, events) => {
        given(buildDecider, events).when(command).thenThrows(IllegalStateError, new RegExp(`already ${status}`));
      });

      it('throws for a superseded attempt', () => {
        given(buildDecider, [...isRunning, requeued(2), assigned(W2, 2), started(W2, 2)])
          .when(command)
          .thenThrows(IllegalStateError, /attempt 1 is superseded \(current attempt 2\)/);
      });
    });
  });

  describe('FinishBuild', () => {
    const finish = (outcome: 'succeeded' | 'failed' | 'timed_out' | 'cancelled', reason: string | null, exitCode: number | null): BuildCommand => ({
      type: 'FinishBuild',
      attempt: 1,
      outcome,
      reason,
      exitCode,
      now: T6,
    });

    it('succeeds', () => {
      given(buildDecider, isLoaded)
        .when(finish('succeeded', null, 0))
        .then([{ type: 'BuildSucceeded', data: { buildId: BUILD, attempt: 1, finishedAt: T6 } }]);
    });

    it('fails with the exit code and reason', () => {
      given(buildDecider, isLoaded)
        .when(finish('failed', 'step test failed', 2))
        .then([{ type: 'BuildFailed', data: { buildId: BUILD, attempt: 1, reason: 'step test failed', exitCode: 2, finishedAt: T6 } }]);
    });

    it('fails with a default reason', () => {
      given(buildDecider, isLoaded)
        .when(finish('failed', null, null))
        .then([{ type: 'BuildFailed', data: { buildId: BUILD, attempt: 1, reason: 'failed', exitCode: null, finishedAt: T6 } }]);
    });

    it('times out', () => {
      given(buildDecider, isLoaded)
        .when(finish('timed_out', 'build exceeded its 30m timeout', null))
        .then([{ type: 'BuildTimedOut', data: { buildId: BUILD, attempt: 1, reason: 'build exceeded its 30m timeout', finishedAt: T6 } }]);
      given(buildDecider, isLoaded)
        .when(finish('timed_out', null, null))
        .then([{ type: 'BuildTimedOut', data: { buildId: BUILD, attempt: 1, reason: 'timed out', finishedAt: T6 } }]);
    });

    it('is cancelled', () => {
      given(buildDecider, [...isLoaded, cancelRequested])
        .when(finish('cancelled', 'cancelled by alice', null))
        .then([{ type: 'BuildCancelled', data: { buildId: BUILD, attempt: 1, reason: 'cancelled by alice', finishedAt: T6 } }]);
      given(buildDecider, [...isLoaded, cancelRequested])
        .when(finish('cancelled', null, null))
        .then([{ type: 'BuildCancelled', data: { buildId: BUILD, attempt: 1, reason: 'cancelled', finishedAt: T6 } }]);
    });

    it.each(finalCases)('throws once %s', (status, events) => {
      given(buildDecider, events)
        .when(finish('succeeded', null, 0))
        .thenThrows(IllegalStateError, new RegExp(`FinishBuild: build ${BUILD} already ${status}`));
    });

    it('throws for a superseded attempt', () => {
      given(buildDecider, [...isRunning, requeued(2)]).when(finish('succeeded', null, 0)).thenThrows(IllegalStateError, /superseded/);
    });
  });

  describe('CancelBuild', () => {
    const cancel: BuildCommand = { type: 'CancelBuild', reason: 'cancelled by alice', now: T4 };

    it('cancels a queued build at once', () => {
      given(buildDecider, isQueued)
        .when(cancel)
        .then([{ type: 'BuildCancelled', data: { buildId: BUILD, attempt: 1, reason: 'cancelled by alice', finishedAt: T4 } }]);
    });

    it('cancels a requested build at once', () => {
      given(buildDecider, [requested])
        .when(cancel)
        .then([{ type: 'BuildCancelled', data: { buildId: BUILD, attempt: 0, reason: 'cancelled by alice', finishedAt: T4 } }]);
    });

    it('asks the worker to stop a running build', () => {
      given(buildDecider, isRunning).when(cancel).then([cancelRequested]);
    });

    it('asks the worker to stop an assigned build', () => {
      given(buildDecider, isAssigned).when(cancel).then([cancelRequested]);
    });

    it('is idempotent once requested', () => {
      given(buildDecider, [...isRunning, cancelRequested]).when({ ...cancel, now: T5 }).then([]);
    });

    it.each(finalCases)('throws once %s', (status, events) => {
      given(buildDecider, events).when(cancel).thenThrows(IllegalStateError, new RegExp(`CancelBuild: build ${BUILD} already ${status}`));
    });
  });

  describe('RequeueBuild', () => {
    const requeue = (attempt: number, maxAttempts = 3): BuildCommand => ({
      type: 'RequeueBuild',
      attempt,
      reason: `worker ${W1} lost`,
      maxAttempts,
      now: T5,
    });

    it('requeues as the next attempt while attempts remain', () => {
      given(buildDecider, isRunning).when(requeue(1)).then([requeued(2)]);
    });

    it('requeues an assigned build whose worker never started it', () => {
      given(buildDecider, isAssigned).when(requeue(1)).then([requeued(2)]);
    });

    it('fails the build once the attempts are used up, naming them', () => {
      const third = [...isRunning, requeued(2), assigned(W2, 2), started(W2, 2), requeued(3), assigned(W1, 3), started(W1, 3)];
      given(buildDecider, third)
        .when(requeue(3))
        .then([
          {
            type: 'BuildFailed',
            data: { buildId: BUILD, attempt: 3, reason: `worker ${W1} lost; gave up after 3 attempts`, exitCode: null, finishedAt: T5 },
          },
        ]);
    });

    it('fails at once with maxAttempts 1', () => {
      given(buildDecider, isRunning)
        .when(requeue(1, 1))
        .then([
          { type: 'BuildFailed', data: { buildId: BUILD, attempt: 1, reason: `worker ${W1} lost; gave up after 1 attempts`, exitCode: null, finishedAt: T5 } },
        ]);
    });

    it('cancels a build whose cancellation was requested', () => {
      given(buildDecider, [...isRunning, cancelRequested])
        .when(requeue(1))
        .then([{ type: 'BuildCancelled', data: { buildId: BUILD, attempt: 1, reason: `cancelled; worker ${W1} lost`, finishedAt: T5 } }]);
    });

    it('rejects a stale attempt', () => {
      given(buildDecider, [...isRunning, requeued(2)])
        .when(requeue(1))
        .thenThrows(IllegalStateError, /RequeueBuild: attempt 1 is superseded \(current attempt 2\)/);
    });

    it.each(finalCases)('throws once %s', (status, events) => {
      given(buildDecider, events).when(requeue(1)).thenThrows(IllegalStateError, new RegExp(`already ${status}`));
    });
  });

  it('emits only schema-valid events along a full lifecycle', () => {
    const commands: BuildCommand[] = [
      { type: 'RequestBuild', data: requestData },
      { type: 'QueueBuild', now: T1 },
      { type: 'AssignBuild', workerId: W1, attempt: 1, now: T2 },
      { type: 'StartBuild', workerId: W1, attempt: 1, now: T3 },
      { type: 'RequeueBuild', attempt: 1, reason: 'worker lost', maxAttempts: 3, now: T4 },
      { type: 'StartBuild', workerId: W2, attempt: 2, now: T4 },
      { type: 'LoadPipeline', attempt: 2, sha: SHA, steps: [{ name: 'test' }] },
      { type: 'StartStep', attempt: 2, index: 0, name: 'test', now: T4 },
      { type: 'FinishStep', attempt: 2, index: 0, name: 'test', outcome: 'failed', exitCode: 1, durationMs: 900, now: T5 },
      { type: 'CancelBuild', reason: 'cancelled by alice', now: T5 },
      { type: 'FinishBuild', attempt: 2, outcome: 'cancelled', reason: null, exitCode: null, now: T6 },
    ];
    const history: BuildEvent[] = [];
    for (const c of commands) {
      const out = decideValid(history, c);
      expect(out.length).toBeGreaterThan(0);
      history.push(...out);
    }
    expect(history.map((e) => e.type)).toEqual([
      'BuildRequested',
      'BuildQueued',
      'BuildAssigned',
      'BuildStarted',
      'BuildRequeued',
      'BuildAssigned', // the second attempt's agent started before the scheduler recorded it
      'BuildStarted',
      'PipelineLoaded',
      'StepStarted',
      'StepFinished',
      'BuildCancelRequested',
      'BuildCancelled',
    ]);
    const state = fold(buildDecider, history);
    expect(isFinal(state)).toBe(true);
    expect(state).toMatchObject({ status: 'cancelled', attempt: 2, workerId: W2 });
  });
});

// ---- evolve ------------------------------------------------------------------------------

describe('build evolve', () => {
  const state = (events: BuildEvent[]) => fold(buildDecider, events) as Exclude<Build, { status: 'none' }>;

  it('starts with no build', () => {
    expect(buildDecider.initialState()).toEqual({ status: 'none' });
    expect(isFinal(buildDecider.initialState())).toBe(false);
  });

  it('ignores events before BuildRequested', () => {
    expect(fold(buildDecider, [queued, started()])).toEqual({ status: 'none' });
  });

  it('records the request', () => {
    expect(fold(buildDecider, [requested])).toEqual({
      status: 'requested',
      buildId: BUILD,
      projectId: PROJECT,
      trigger: 'push',
      source: requestData.source,
      attempt: 0,
      workerId: null,
      steps: [],
      timeoutMs: null,
      deploy: undefined,
      cancelRequested: false,
      reason: null,
      exitCode: null,
      requestedAt: T0,
      queuedAt: null,
      startedAt: null,
      finishedAt: null,
    });
  });

  it('tracks queue, assignment and start', () => {
    expect(state(isQueued)).toMatchObject({ status: 'queued', attempt: 1, queuedAt: T1, workerId: null });
    expect(state(isAssigned)).toMatchObject({ status: 'assigned', attempt: 1, workerId: W1 });
    expect(state(isRunning)).toMatchObject({ status: 'running', workerId: W1, startedAt: T3 });
  });

  it('creates pending steps and resolves the sha when the pipeline is loaded', () => {
    const s = state(isLoaded);
    expect(s.source.sha).toBe(SHA);
    expect(s.source.ref).toBe('refs/heads/main');
    expect(s.steps).toEqual([
      { index: 0, name: 'install', status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null },
      { index: 1, name: 'lint', status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null },
      { index: 2, name: 'test', status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null },
    ]);
  });

  it('records step status, exit codes and durations', () => {
    const events: BuildEvent[] = [
      ...isLoaded,
      { type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', startedAt: T3 } },
      {
        type: 'StepFinished',
        data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', outcome: 'succeeded', exitCode: 0, durationMs: 3420, finishedAt: T4 },
      },
      { type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 1, name: 'lint', startedAt: T4 } },
    ];
    expect(state(events).steps).toEqual([
      { index: 0, name: 'install', status: 'succeeded', exitCode: 0, startedAt: T3, finishedAt: T4, durationMs: 3420 },
      { index: 1, name: 'lint', status: 'running', exitCode: null, startedAt: T4, finishedAt: null, durationMs: null },
      { index: 2, name: 'test', status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null },
    ]);

    const failed = state([
      ...events,
      {
        type: 'StepFinished',
        data: { buildId: BUILD, attempt: 1, index: 1, name: 'lint', outcome: 'failed', exitCode: 2, durationMs: 67_110, finishedAt: T5 },
      },
    ]);
    expect(failed.steps[1]).toEqual({ index: 1, name: 'lint', status: 'failed', exitCode: 2, startedAt: T4, finishedAt: T5, durationMs: 67_110 });
  });

  it('creates a step it did not know from the pipeline', () => {
    const s = state([...isRunning, { type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 0, name: 'checkout', startedAt: T3 } }]);
    expect(s.steps).toEqual([{ index: 0, name: 'checkout', status: 'running', exitCode: null, startedAt: T3, finishedAt: null, durationMs: null }]);
  });

  it('does not mutate earlier states', () => {
    const before = state(isLoaded);
    const stepsBefore = structuredClone(before.steps);
    buildDecider.evolve(before, { type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', startedAt: T4 } });
    expect(before.steps).toEqual(stepsBefore);
  });

  it('resets the worker and steps on BuildRequeued', () => {
    const s = state([
      ...isLoaded,
      { type: 'StepStarted', data: { buildId: BUILD, attempt: 1, index: 0, name: 'install', startedAt: T4 } },
      requeued(2),
    ]);
    expect(s).toMatchObject({
      status: 'queued',
      attempt: 2,
      workerId: null,
      steps: [],
      startedAt: null,
      queuedAt: T5,
      reason: `worker ${W1} lost`,
      cancelRequested: false,
    });
  });

  it('records final outcomes', () => {
    expect(state(finals.succeeded)).toMatchObject({ status: 'succeeded', finishedAt: T6 });
    expect(state(finals.failed)).toMatchObject({ status: 'failed', reason: 'step test failed', exitCode: 1, finishedAt: T6 });
    expect(state(finals.timed_out)).toMatchObject({ status: 'timed_out', reason: 'exceeded 30m', finishedAt: T6 });
    expect(state(finals.cancelled)).toMatchObject({ status: 'cancelled', cancelRequested: true, reason: 'cancelled by alice', finishedAt: T6 });
    for (const events of Object.values(finals)) expect(isFinal(state(events))).toBe(true);
    expect(isFinal(state(isRunning))).toBe(false);
  });

  it('records a cancel request without ending the build', () => {
    expect(state([...isRunning, cancelRequested])).toMatchObject({ status: 'running', cancelRequested: true, reason: 'cancelled by alice' });
  });
});

describe('cache records', () => {
  const source = { repoUrl: '/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: null, message: null };
  const runningHistory: BuildEvent[] = [
    { type: 'BuildRequested', data: { buildId: 'bc', projectId: 'p', trigger: 'push', deliveryId: 'd', source, requestedAt: '2026-01-01T00:00:00.000Z' } },
    { type: 'BuildQueued', data: { buildId: 'bc', projectId: 'p', attempt: 1, queuedAt: '2026-01-01T00:00:01.000Z' } },
    { type: 'BuildAssigned', data: { buildId: 'bc', workerId: 'w', attempt: 1, assignedAt: '2026-01-01T00:00:02.000Z' } },
    { type: 'BuildStarted', data: { buildId: 'bc', workerId: 'w', attempt: 1, startedAt: '2026-01-01T00:00:03.000Z' } },
  ];
  const restored = { buildId: 'bc', attempt: 1, index: 0, key: 'npm-x', result: 'partial' as const, matchedKey: 'npm-', bytes: 10, seconds: 0.1 };
  it('records a restore and a save while running, leaving the status alone', () => {
    given(buildDecider, runningHistory).when({ type: 'RecordCacheRestore', data: restored }).then([{ type: 'CacheRestored', data: restored }]);
    const saved = { buildId: 'bc', attempt: 1, index: 0, key: 'npm-x', saved: true, reason: null, bytes: 10, seconds: 0.2 };
    given(buildDecider, runningHistory).when({ type: 'RecordCacheSave', data: saved }).then([{ type: 'CacheSaved', data: saved }]);
    expect(given(buildDecider, [...runningHistory, { type: 'CacheRestored', data: restored }]).state.status).toBe('running');
  });
  it('refuses a record from a superseded attempt', () => {
    given(buildDecider, runningHistory).when({ type: 'RecordCacheRestore', data: { ...restored, attempt: 2 } }).thenThrows(IllegalStateError, /superseded/);
  });
});
