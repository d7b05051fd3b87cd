import { DeployEvent, DeployEventData, DeploySpec, IllegalStateError, deployCodec, deployIdForBuild, instanceIdOf } from '@kiln/contracts';
import { given } from '@kiln/testing';
import { fold } from '../decider';
import { DeployCommand, deployDecider, isDeployFinal } from './deploy.decider';

const BUILD = 'b_01HZX3K9Q7M2V8RTN4WJ6YCD5E';
const PROJECT = 'proj-web-frontend';
const DEPLOY = deployIdForBuild(BUILD);
const PREVIOUS = deployIdForBuild('b_01HZX2AAAAAAAAAAAAAAAAAAAA');
const SHA = '3f2a9c8e1b7d4f6a0c5e9b2d8f1a7c3e6b4d0f9a';
const I1 = instanceIdOf(DEPLOY, 1);
const I2 = instanceIdOf(DEPLOY, 2);

const T0 = '2024-05-14T09:30:00.000Z';
const T1 = '2024-05-14T09:30:00.400Z';
const T2 = '2024-05-14T09:30:01.100Z';
const T3 = '2024-05-14T09:30:04.250Z';
const T4 = '2024-05-14T09:30:05.900Z';
const T5 = '2024-05-14T09:30:06.010Z';

const spec: DeploySpec = {
  environment: 'staging',
  start: 'node server.js',
  image: null,
  instances: 2,
  warmup: { paths: ['/', '/health'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 600_000, maxTimeoutMs: 1_500_000, requestTimeoutMs: 10_000 },
};

const startData: DeployEventData<'DeployStarted'> = {
  deployId: DEPLOY,
  buildId: BUILD,
  projectId: PROJECT,
  sha: SHA,
  environment: 'staging',
  spec,
  previousDeployId: PREVIOUS,
  releaseDir: `/var/lib/kiln/releases/${DEPLOY}`,
  startedAt: T0,
};

// ---- events ------------------------------------------------------------------------------

const started: DeployEvent = { type: 'DeployStarted', data: startData };
const instanceStarted = (index: number, pid = 4100 + index, port = 41000 + index): DeployEvent => ({
  type: 'InstanceStarted',
  data: { deployId: DEPLOY, instanceId: instanceIdOf(DEPLOY, index), index, pid, port, startedAt: T1 },
});
const warming = (instanceId: string, observation = '503', signalSeen = false): DeployEvent => ({
  type: 'InstanceWarming',
  data: { deployId: DEPLOY, instanceId, path: '/', observation, signalSeen, limitMs: signalSeen ? 1_500_000 : 600_000, at: T2 },
});
const warm = (instanceId: string, warnings: string[] = []): DeployEvent => ({
  type: 'InstanceWarm',
  data: { deployId: DEPLOY, instanceId, tookMs: 3100, warnings, warmAt: T3 },
});
const switched: DeployEvent = {
  type: 'TrafficSwitched',
  data: { deployId: DEPLOY, environment: 'staging', instanceIds: [I1, I2], previousDeployId: PREVIOUS, switchedAt: T4 },
};

const isStarted = [started];
const bothRunning = [...isStarted, instanceStarted(1), instanceStarted(2)];
const bothWarming = [...bothRunning, warming(I1), warming(I2, '200 with X-AppInit-WarmingUp: 1', true)];
const oneWarm = [...bothWarming, warm(I1)];
const bothWarm = [...oneWarm, warm(I2)];
const isLive = [...bothWarm, switched];
const isFailed = [...bothWarming, { type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason: 'checkout failed', failedAt: T4 } } as DeployEvent];

/** Every event a decision produces must satisfy the published schema of its type. */
function decideValid(events: DeployEvent[], command: DeployCommand): DeployEvent[] {
  const out = deployDecider.decide(command, fold(deployDecider, events));
  for (const e of out) expect(() => deployCodec.validate(e)).not.toThrow();
  return out;
}

describe('deploy decider', () => {
  describe('StartDeploy', () => {
    it('starts a deploy of a build', () => {
      given(deployDecider, []).when({ type: 'StartDeploy', data: startData }).then([started]);
      expect(decideValid([], { type: 'StartDeploy', data: startData })).toHaveLength(1);
    });

    it('rejects a second start of the same deploy', () => {
      given(deployDecider, isStarted).when({ type: 'StartDeploy', data: startData }).thenThrows(IllegalStateError, /already exists/);
    });

    it('rejects a spec for another environment than the deploy', () => {
      given(deployDecider, [])
        .when({ type: 'StartDeploy', data: { ...startData, environment: 'prod' } })
        .thenThrows(IllegalStateError, /environment prod differs from the spec's staging/);
    });
  });

  describe('RejectDeploy', () => {
    it('records a deploy that could not start as failed, with its build', () => {
      const reason = '.kiln.yml line 9, column 3: deploy: unknown key \'target\'';
      given(deployDecider, [])
        .when({ type: 'RejectDeploy', deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason, now: T1 })
        .then([{ type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason, failedAt: T1 } }]);
      const state = given(deployDecider, [{ type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason, failedAt: T1 } }]).state;
      expect(state).toMatchObject({ status: 'failed', buildId: BUILD, environment: null, reason });
      expect(isDeployFinal(state)).toBe(true);
    });

    it('rejects a deploy that exists', () => {
      given(deployDecider, isStarted)
        .when({ type: 'RejectDeploy', deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason: 'x', now: T1 })
        .thenThrows(IllegalStateError, /already exists/);
    });
  });

  describe('commands on a deploy that does not exist', () => {
    const commands: DeployCommand[] = [
      { type: 'StartInstance', index: 1, pid: 1, port: 1, now: T1 },
      { type: 'ReportWarming', instanceId: I1, path: '/', observation: '503', signalSeen: false, limitMs: 1, now: T2 },
      { type: 'MarkInstanceWarm', instanceId: I1, tookMs: 1, warnings: [], now: T3 },
      { type: 'FailInstance', instanceId: I1, cause: 'crashed', reason: 'exited', now: T3 },
      { type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T4 },
      { type: 'FailDeploy', reason: 'x', now: T4 },
    ];
    it.each(commands.map((c) => [c.type, c] as const))('%s throws', (type, command) => {
      given(deployDecider, []).when(command).thenThrows(IllegalStateError, new RegExp(`${type}: deploy does not exist`));
    });
  });

  describe('StartInstance', () => {
    it('records a started instance with its pid and port', () => {
      given(deployDecider, isStarted).when({ type: 'StartInstance', index: 1, pid: 4101, port: 41001, now: T1 }).then([instanceStarted(1)]);
    });

    it('is idempotent for an instance already recorded', () => {
      given(deployDecider, bothRunning).when({ type: 'StartInstance', index: 2, pid: 9999, port: 9999, now: T2 }).then([]);
    });

    it('rejects more instances than the spec asks for', () => {
      given(deployDecider, bothRunning).when({ type: 'StartInstance', index: 3, pid: 1, port: 1, now: T2 }).thenThrows(IllegalStateError, /outside 1\.\.2/);
    });

    it('rejects an instance after the deploy ended', () => {
      given(deployDecider, isFailed).when({ type: 'StartInstance', index: 1, pid: 1, port: 1, now: T5 }).thenThrows(IllegalStateError, /is failed/);
    });
  });

  describe('StartInstance on a live deploy (an instance started again)', () => {
    const i1Gone: DeployEvent = { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I1, cause: 'crashed', reason: 'gone while the deployer was down', failedAt: T5 } };
    const liveOneGone = [...isLive, i1Gone];

    it('starts a failed instance of the live deploy again, warming', () => {
      given(deployDecider, liveOneGone).when({ type: 'StartInstance', index: 1, pid: 5101, port: 51001, now: T5 }).then([
        { type: 'InstanceStarted', data: { deployId: DEPLOY, instanceId: I1, index: 1, pid: 5101, port: 51001, startedAt: T5 } },
      ]);
      const state = fold(deployDecider, [...liveOneGone, instanceStarted(1, 5101, 51001)]);
      expect(state).toMatchObject({ status: 'live', instances: [{ instanceId: I1, status: 'warming', pid: 5101, port: 51001, reason: null, failedAt: null }, { instanceId: I2, status: 'warm' }] });
    });

    it('warms it up and marks it warm; the deploy stays live', () => {
      const again = [...liveOneGone, instanceStarted(1, 5101, 51001)];
      given(deployDecider, again)
        .when({ type: 'ReportWarming', instanceId: I1, path: '/', observation: '503', signalSeen: false, limitMs: 600_000, now: T5 })
        .then([{ type: 'InstanceWarming', data: { deployId: DEPLOY, instanceId: I1, path: '/', observation: '503', signalSeen: false, limitMs: 600_000, at: T5 } }]);
      given(deployDecider, again).when({ type: 'MarkInstanceWarm', instanceId: I1, tookMs: 3100, warnings: [], now: T3 }).then([warm(I1)]);
      expect(fold(deployDecider, [...again, warm(I1)])).toMatchObject({ status: 'live', instances: [{ status: 'warm' }, { status: 'warm' }] });
    });

    it('a started-again instance that fails is only taken out of rotation', () => {
      const failed: DeployEvent = { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I1, cause: 'warmup_timeout', reason: 'not warm after 10m', failedAt: T5 } };
      given(deployDecider, [...liveOneGone, instanceStarted(1, 5101, 51001)])
        .when({ type: 'FailInstance', instanceId: I1, cause: 'warmup_timeout', reason: 'not warm after 10m', now: T5 })
        .then([failed]);
    });

    it('never replaces a running instance; the same start twice changes nothing', () => {
      given(deployDecider, isLive).when({ type: 'StartInstance', index: 1, pid: 5101, port: 51001, now: T5 }).thenThrows(IllegalStateError, /instance 1 of live deploy .* is warm/);
      given(deployDecider, isLive).when({ type: 'StartInstance', index: 1, pid: 4101, port: 41001, now: T5 }).then([]);
      given(deployDecider, liveOneGone).when({ type: 'StartInstance', index: 3, pid: 1, port: 1, now: T5 }).thenThrows(IllegalStateError, /outside 1\.\.2/);
    });
  });

  describe('ReportWarming', () => {
    it('records what a warming instance answered', () => {
      given(deployDecider, bothRunning)
        .when({ type: 'ReportWarming', instanceId: I2, path: '/', observation: '200 with X-AppInit-WarmingUp: 1', signalSeen: true, limitMs: 1_500_000, now: T2 })
        .then([warming(I2, '200 with X-AppInit-WarmingUp: 1', true)]);
    });

    it('rejects an unknown instance', () => {
      given(deployDecider, isStarted)
        .when({ type: 'ReportWarming', instanceId: I1, path: '/', observation: '503', signalSeen: false, limitMs: 1, now: T2 })
        .thenThrows(IllegalStateError, /has no instance/);
    });

    it('rejects an instance that is already warm', () => {
      given(deployDecider, oneWarm)
        .when({ type: 'ReportWarming', instanceId: I1, path: '/', observation: '503', signalSeen: false, limitMs: 1, now: T3 })
        .thenThrows(IllegalStateError, /is warm/);
    });
  });

  describe('MarkInstanceWarm', () => {
    it('marks an instance warm, with the redirects that counted as answers', () => {
      const warnings = ['GET /health answered 302 (Location: /login): a redirect counts as an answer'];
      given(deployDecider, bothWarming).when({ type: 'MarkInstanceWarm', instanceId: I1, tookMs: 3100, warnings, now: T3 }).then([warm(I1, warnings)]);
    });

    it('is idempotent', () => {
      given(deployDecider, oneWarm).when({ type: 'MarkInstanceWarm', instanceId: I1, tookMs: 1, warnings: [], now: T4 }).then([]);
    });
  });

  describe('SwitchTraffic', () => {
    it('switches to every new instance once all are warm', () => {
      given(deployDecider, bothWarm).when({ type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T4 }).then([switched]);
      expect(given(deployDecider, isLive).state).toMatchObject({ status: 'live', switchedAt: T4 });
    });

    it('never switches while an instance is not warm', () => {
      given(deployDecider, oneWarm).when({ type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T4 }).thenThrows(IllegalStateError, /instance 2 of deploy .* not warm/);
    });

    it('never switches before every instance has started', () => {
      given(deployDecider, [...isStarted, instanceStarted(1), warm(I1)]).when({ type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T4 }).thenThrows(IllegalStateError, /instance 2 .*not warm/);
      given(deployDecider, isStarted).when({ type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T4 }).thenThrows(IllegalStateError, /instances 1, 2 of deploy/);
    });

    it('rejects a second switch', () => {
      given(deployDecider, isLive).when({ type: 'SwitchTraffic', previousDeployId: PREVIOUS, now: T5 }).thenThrows(IllegalStateError, /is live/);
    });
  });

  describe('FailInstance', () => {
    it('rolls the deploy back when a new instance crashes during the deploy', () => {
      given(deployDecider, oneWarm)
        .when({ type: 'FailInstance', instanceId: I2, cause: 'crashed', reason: 'exited with code 1', now: T3 })
        .then([
          { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I2, cause: 'crashed', reason: 'exited with code 1', failedAt: T3 } },
          { type: 'DeployRolledBack', data: { deployId: DEPLOY, instanceId: I2, reason: 'instance 2 exited with code 1', rolledBackAt: T3 } },
        ]);
    });

    it('rolls back on a failing health check during the deploy too', () => {
      const out = decideValid(oneWarm, { type: 'FailInstance', instanceId: I1, cause: 'unhealthy', reason: 'failed 3 health checks', now: T3 });
      expect(out.map((e) => e.type)).toEqual(['InstanceFailed', 'DeployRolledBack']);
    });

    it('fails the deploy when an instance does not warm in time', () => {
      const reason = 'not warm after 10m (GET / answered 503)';
      given(deployDecider, bothWarming)
        .when({ type: 'FailInstance', instanceId: I1, cause: 'warmup_timeout', reason, now: T4 })
        .then([
          { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I1, cause: 'warmup_timeout', reason, failedAt: T4 } },
          { type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason: `instance 1 ${reason}`, failedAt: T4 } },
        ]);
    });

    it('after the switch only takes the instance out of rotation', () => {
      given(deployDecider, isLive)
        .when({ type: 'FailInstance', instanceId: I1, cause: 'crashed', reason: 'killed by SIGKILL', now: T5 })
        .then([{ type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I1, cause: 'crashed', reason: 'killed by SIGKILL', failedAt: T5 } }]);
    });

    it('ignores instances of a deploy that already ended, and instances already failed', () => {
      given(deployDecider, isFailed).when({ type: 'FailInstance', instanceId: I1, cause: 'crashed', reason: 'killed by SIGTERM', now: T5 }).then([]);
      const afterOneFailed = [...isLive, { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I1, cause: 'crashed', reason: 'x', failedAt: T5 } } as DeployEvent];
      given(deployDecider, afterOneFailed).when({ type: 'FailInstance', instanceId: I1, cause: 'unhealthy', reason: 'y', now: T5 }).then([]);
    });
  });

  describe('FailDeploy', () => {
    it('fails a deploy in progress', () => {
      given(deployDecider, bothWarming)
        .when({ type: 'FailDeploy', reason: 'the deployer restarted during the deploy', now: T4 })
        .then([{ type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason: 'the deployer restarted during the deploy', failedAt: T4 } }]);
    });

    it('is idempotent once the deploy ended', () => {
      given(deployDecider, isFailed).when({ type: 'FailDeploy', reason: 'again', now: T5 }).then([]);
    });

    it('cannot fail a deploy that already switched traffic', () => {
      given(deployDecider, isLive).when({ type: 'FailDeploy', reason: 'late', now: T5 }).thenThrows(IllegalStateError, /already switched traffic/);
    });
  });

  describe('evolve', () => {
    it('folds a whole deploy', () => {
      const state = fold(deployDecider, isLive);
      expect(state).toMatchObject({
        status: 'live',
        environment: 'staging',
        previousDeployId: PREVIOUS,
        instances: [
          { instanceId: I1, index: 1, pid: 4101, port: 41001, status: 'warm', warmAt: T3 },
          { instanceId: I2, index: 2, pid: 4102, port: 41002, status: 'warm', signalSeen: true },
        ],
      });
      expect(isDeployFinal(state)).toBe(false);
    });

    it('keeps the reason of a rollback', () => {
      const state = fold(deployDecider, [
        ...bothWarming,
        { type: 'InstanceFailed', data: { deployId: DEPLOY, instanceId: I2, cause: 'crashed', reason: 'exited with code 1', failedAt: T3 } },
        { type: 'DeployRolledBack', data: { deployId: DEPLOY, instanceId: I2, reason: 'instance 2 exited with code 1', rolledBackAt: T3 } },
      ]);
      expect(state).toMatchObject({ status: 'rolled_back', reason: 'instance 2 exited with code 1', finishedAt: T3 });
      expect(isDeployFinal(state)).toBe(true);
      // the crashed one failed; the other was stopped with the deploy
      expect(state.status !== 'none' && state.instances.map((i) => i.status)).toEqual(['stopped', 'failed']);
    });

    it('a deploy that ends without a switch leaves no instance warming or warm: they were stopped with it', () => {
      const state = fold(deployDecider, [...oneWarm, { type: 'DeployFailed', data: { deployId: DEPLOY, buildId: BUILD, projectId: PROJECT, reason: 'the deployer restarted during the deploy', failedAt: T4 } }]);
      expect(state).toMatchObject({ status: 'failed', reason: 'the deployer restarted during the deploy' });
      expect(state.status !== 'none' && state.instances.map((i) => [i.instanceId, i.status])).toEqual([
        [I1, 'stopped'],
        [I2, 'stopped'],
      ]);
    });
  });
});
