import {
  DeployEvent,
  DeployEventData,
  DeploySpec,
  IllegalStateError,
  InstanceFailureCause,
  instanceIdOf,
} from '@kiln/contracts';
import { Decider, assertNever } from '../decider';

export interface DeployInstanceState {
  instanceId: string;
  index: number;
  pid: number;
  port: number;
  /** `stopped`: it was warming or warm when its deploy ended without a switch (it was stopped with it). */
  status: 'warming' | 'warm' | 'failed' | 'stopped';
  /** Last warm-up observation while warming (e.g. `503`). */
  observation: string | null;
  signalSeen: boolean;
  warnings: string[];
  startedAt: string;
  warmAt: string | null;
  failedAt: string | null;
  reason: string | null;
}

/**
 * A deploy's state. `deploying` until traffic switched (`live`) or it ended without a switch
 * (`failed`: warm-up or start did not succeed; `rolled_back`: a new instance crashed).
 * A live deploy's instance that failed may be started again (`warming` once more, in
 * rotation once warm): the deployer does so when it restarts and finds one gone.
 */
export type Deploy =
  | { status: 'none' }
  | {
      status: 'deploying' | 'live' | 'failed' | 'rolled_back';
      deployId: string;
      buildId: string;
      projectId: string;
      /** Null only for a deploy that failed before it started (its section or release was unreadable). */
      sha: string | null;
      environment: string | null;
      spec: DeploySpec | null;
      previousDeployId: string | null;
      releaseDir: string | null;
      instances: DeployInstanceState[];
      reason: string | null;
      startedAt: string | null;
      switchedAt: string | null;
      finishedAt: string | null;
    };

export type ExistingDeploy = Exclude<Deploy, { status: 'none' }>;

/** Commands on a deploy. `now` is an ISO time chosen by the caller. */
export type DeployCommand =
  | { type: 'StartDeploy'; data: DeployEventData<'DeployStarted'> }
  /** A deploy that cannot start (unreadable `deploy` section, failed checkout): recorded as failed. */
  | { type: 'RejectDeploy'; deployId: string; buildId: string; projectId: string; reason: string; now: string }
  | { type: 'StartInstance'; index: number; pid: number; port: number; now: string }
  | { type: 'ReportWarming'; instanceId: string; path: string; observation: string; signalSeen: boolean; limitMs: number; now: string }
  | { type: 'MarkInstanceWarm'; instanceId: string; tookMs: number; warnings: string[]; now: string }
  | { type: 'FailInstance'; instanceId: string; cause: InstanceFailureCause; reason: string; now: string }
  /** `previousDeployId`: the deploy serving the environment now, whose instances drain after the switch. */
  | { type: 'SwitchTraffic'; previousDeployId: string | null; now: string }
  | { type: 'FailDeploy'; reason: string; now: string };

const FINAL: ReadonlySet<Deploy['status']> = new Set(['failed', 'rolled_back']);

/** Whether the deploy ended without switching traffic. */
export function isDeployFinal(d: Deploy): boolean {
  return FINAL.has(d.status);
}

function existing(state: Deploy, what: string): ExistingDeploy {
  if (state.status === 'none') throw new IllegalStateError(`${what}: deploy does not exist`);
  return state;
}

function deploying(state: Deploy, what: string): ExistingDeploy & { spec: DeploySpec } {
  const d = existing(state, what);
  if (d.status !== 'deploying' || d.spec === null) throw new IllegalStateError(`${what}: deploy ${d.deployId} is ${d.status}`);
  return d as ExistingDeploy & { spec: DeploySpec };
}

/** A deploy whose instances may warm up: one in progress, or a live one whose instance was started again. */
function serving(state: Deploy, what: string): ExistingDeploy & { spec: DeploySpec } {
  const d = existing(state, what);
  if ((d.status !== 'deploying' && d.status !== 'live') || d.spec === null) throw new IllegalStateError(`${what}: deploy ${d.deployId} is ${d.status}`);
  return d as ExistingDeploy & { spec: DeploySpec };
}

/**
 * A live deploy's instance that failed (or was gone when the deployer restarted) started
 * again: it warms up like a new one and takes traffic once warm. A running instance is not
 * replaced (the same start recorded twice changes nothing).
 */
function startAgain(d: ExistingDeploy & { spec: DeploySpec }, command: Extract<DeployCommand, { type: 'StartInstance' }>): DeployEvent[] {
  if (command.index < 1 || command.index > d.spec.instances) {
    throw new IllegalStateError(`StartInstance: instance ${command.index} is outside 1..${d.spec.instances}`);
  }
  const instanceId = instanceIdOf(d.deployId, command.index);
  const current = d.instances.find((i) => i.instanceId === instanceId);
  if (current && current.status !== 'failed') {
    if (current.pid === command.pid && current.port === command.port) return [];
    throw new IllegalStateError(`StartInstance: instance ${command.index} of live deploy ${d.deployId} is ${current.status}`);
  }
  return [{ type: 'InstanceStarted', data: { deployId: d.deployId, instanceId, index: command.index, pid: command.pid, port: command.port, startedAt: command.now } }];
}

function instance(d: ExistingDeploy, instanceId: string, what: string): DeployInstanceState {
  const i = d.instances.find((x) => x.instanceId === instanceId);
  if (!i) throw new IllegalStateError(`${what}: deploy ${d.deployId} has no instance ${instanceId}`);
  return i;
}

function decide(command: DeployCommand, state: Deploy): DeployEvent[] {
  switch (command.type) {
    case 'StartDeploy': {
      if (state.status !== 'none') throw new IllegalStateError(`deploy ${command.data.deployId} already exists`);
      if (command.data.spec.environment !== command.data.environment) {
        throw new IllegalStateError(`StartDeploy: environment ${command.data.environment} differs from the spec's ${command.data.spec.environment}`);
      }
      return [{ type: 'DeployStarted', data: command.data }];
    }
    case 'RejectDeploy': {
      if (state.status !== 'none') throw new IllegalStateError(`deploy ${command.deployId} already exists`);
      const { deployId, buildId, projectId, reason, now } = command;
      return [{ type: 'DeployFailed', data: { deployId, buildId, projectId, reason, failedAt: now } }];
    }
    case 'StartInstance': {
      const d = existing(state, 'StartInstance');
      if (d.status === 'live' && d.spec) return startAgain(d as ExistingDeploy & { spec: DeploySpec }, command);
      const dd = deploying(state, 'StartInstance');
      if (command.index < 1 || command.index > dd.spec.instances) {
        throw new IllegalStateError(`StartInstance: instance ${command.index} is outside 1..${dd.spec.instances}`);
      }
      const instanceId = instanceIdOf(dd.deployId, command.index);
      if (dd.instances.some((i) => i.instanceId === instanceId)) return []; // already recorded
      return [{ type: 'InstanceStarted', data: { deployId: dd.deployId, instanceId, index: command.index, pid: command.pid, port: command.port, startedAt: command.now } }];
    }
    case 'ReportWarming': {
      const d = serving(state, 'ReportWarming');
      const i = instance(d, command.instanceId, 'ReportWarming');
      if (i.status !== 'warming') throw new IllegalStateError(`ReportWarming: instance ${i.instanceId} is ${i.status}`);
      return [
        {
          type: 'InstanceWarming',
          data: {
            deployId: d.deployId,
            instanceId: i.instanceId,
            path: command.path,
            observation: command.observation,
            signalSeen: command.signalSeen,
            limitMs: command.limitMs,
            at: command.now,
          },
        },
      ];
    }
    case 'MarkInstanceWarm': {
      const d = serving(state, 'MarkInstanceWarm');
      const i = instance(d, command.instanceId, 'MarkInstanceWarm');
      if (i.status === 'warm') return [];
      if (i.status === 'failed') throw new IllegalStateError(`MarkInstanceWarm: instance ${i.instanceId} failed`);
      return [{ type: 'InstanceWarm', data: { deployId: d.deployId, instanceId: i.instanceId, tookMs: command.tookMs, warnings: command.warnings, warmAt: command.now } }];
    }
    case 'FailInstance': {
      const d = existing(state, 'FailInstance');
      const i = instance(d, command.instanceId, 'FailInstance');
      // an ended deploy's instances are being stopped: their exits are expected
      if (i.status === 'failed' || isDeployFinal(d)) return [];
      const failed: DeployEvent = {
        type: 'InstanceFailed',
        data: { deployId: d.deployId, instanceId: i.instanceId, cause: command.cause, reason: command.reason, failedAt: command.now },
      };
      // after the switch an instance that fails is only taken out of rotation
      if (d.status === 'live') return [failed];
      const why = `instance ${i.index} ${command.reason}`;
      if (command.cause === 'warmup_timeout') {
        return [failed, { type: 'DeployFailed', data: { deployId: d.deployId, buildId: d.buildId, projectId: d.projectId, reason: why, failedAt: command.now } }];
      }
      return [failed, { type: 'DeployRolledBack', data: { deployId: d.deployId, instanceId: i.instanceId, reason: why, rolledBackAt: command.now } }];
    }
    case 'SwitchTraffic': {
      const d = deploying(state, 'SwitchTraffic');
      const notWarm = Array.from({ length: d.spec.instances }, (_, k) => k + 1).filter(
        (index) => d.instances.find((i) => i.index === index)?.status !== 'warm',
      );
      if (notWarm.length > 0) {
        throw new IllegalStateError(`SwitchTraffic: instance${notWarm.length > 1 ? 's' : ''} ${notWarm.join(', ')} of deploy ${d.deployId} not warm`);
      }
      return [
        {
          type: 'TrafficSwitched',
          data: {
            deployId: d.deployId,
            environment: d.spec.environment,
            instanceIds: [...d.instances].sort((a, b) => a.index - b.index).map((i) => i.instanceId),
            previousDeployId: command.previousDeployId,
            switchedAt: command.now,
          },
        },
      ];
    }
    case 'FailDeploy': {
      const d = existing(state, 'FailDeploy');
      if (isDeployFinal(d)) return [];
      if (d.status === 'live') throw new IllegalStateError(`FailDeploy: deploy ${d.deployId} already switched traffic`);
      return [{ type: 'DeployFailed', data: { deployId: d.deployId, buildId: d.buildId, projectId: d.projectId, reason: command.reason, failedAt: command.now } }];
    }
    default:
      return assertNever(command);
  }
}

function evolve(state: Deploy, event: DeployEvent): Deploy {
  if (event.type === 'DeployStarted') {
    const d = event.data;
    return {
      status: 'deploying',
      deployId: d.deployId,
      buildId: d.buildId,
      projectId: d.projectId,
      sha: d.sha,
      environment: d.environment,
      spec: d.spec,
      previousDeployId: d.previousDeployId,
      releaseDir: d.releaseDir,
      instances: [],
      reason: null,
      startedAt: d.startedAt,
      switchedAt: null,
      finishedAt: null,
    };
  }
  if (event.type === 'DeployFailed' && state.status === 'none') {
    const d = event.data;
    return {
      status: 'failed',
      deployId: d.deployId,
      buildId: d.buildId,
      projectId: d.projectId,
      sha: null,
      environment: null,
      spec: null,
      previousDeployId: null,
      releaseDir: null,
      instances: [],
      reason: d.reason,
      startedAt: null,
      switchedAt: null,
      finishedAt: d.failedAt,
    };
  }
  if (state.status === 'none') return state;
  const d = state;
  switch (event.type) {
    case 'InstanceStarted': {
      const e = event.data;
      const i: DeployInstanceState = {
        instanceId: e.instanceId,
        index: e.index,
        pid: e.pid,
        port: e.port,
        status: 'warming',
        observation: null,
        signalSeen: false,
        warnings: [],
        startedAt: e.startedAt,
        warmAt: null,
        failedAt: null,
        reason: null,
      };
      return { ...d, instances: [...d.instances.filter((x) => x.instanceId !== e.instanceId), i].sort((a, b) => a.index - b.index) };
    }
    case 'InstanceWarming':
      return { ...d, instances: update(d.instances, event.data.instanceId, { observation: event.data.observation, signalSeen: event.data.signalSeen }) };
    case 'InstanceWarm':
      return { ...d, instances: update(d.instances, event.data.instanceId, { status: 'warm', warnings: event.data.warnings, warmAt: event.data.warmAt }) };
    case 'InstanceFailed':
      return { ...d, instances: update(d.instances, event.data.instanceId, { status: 'failed', reason: event.data.reason, failedAt: event.data.failedAt }) };
    case 'TrafficSwitched':
      return { ...d, status: 'live', switchedAt: event.data.switchedAt, finishedAt: event.data.switchedAt };
    case 'DeployFailed':
      return { ...d, status: 'failed', reason: event.data.reason, finishedAt: event.data.failedAt, instances: stopAll(d.instances) };
    case 'DeployRolledBack':
      return { ...d, status: 'rolled_back', reason: event.data.reason, finishedAt: event.data.rolledBackAt, instances: stopAll(d.instances) };
    default:
      return assertNever(event);
  }
}

/** A deploy that ended without a switch stops its instances: none stays `warming` or `warm`. */
function stopAll(instances: DeployInstanceState[]): DeployInstanceState[] {
  return instances.map((i) => (i.status === 'failed' ? i : { ...i, status: 'stopped' }));
}

function update(instances: DeployInstanceState[], instanceId: string, patch: Partial<DeployInstanceState>): DeployInstanceState[] {
  return instances.map((i) => (i.instanceId === instanceId ? { ...i, ...patch } : i));
}

export const deployDecider: Decider<Deploy, DeployCommand, DeployEvent> = {
  initialState: () => ({ status: 'none' }),
  decide,
  evolve,
};
