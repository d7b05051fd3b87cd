import { IllegalStateError, LeaseJob, WorkerEvent } from '@kiln/contracts';
import { Decider, assertNever } from '../decider';

export type WorkerStatus = 'provisioning' | 'warming' | 'warm' | 'leased' | 'retired' | 'lost';

export type Worker =
  | { status: 'none' }
  | {
      status: WorkerStatus;
      workerId: string;
      driver: string;
      job: LeaseJob | null;
      reason: string | null;
      provisionedAt: string;
      warmAt: string | null;
    };

export type WorkerCommand =
  | { type: 'ProvisionWorker'; workerId: string; driver: string; now: string }
  | { type: 'ConnectWorker'; hostname: string; pid: number; protocolVersion: number; now: string }
  | { type: 'MarkWarm'; checks: string[]; now: string }
  | { type: 'LeaseWorker'; job: LeaseJob; allowCold: boolean; now: string }
  | { type: 'ReleaseWorker'; buildId: string; now: string }
  | { type: 'RetireWorker'; reason: string; now: string }
  | { type: 'MarkLost'; reason: string; now: string };

const GONE = new Set<string>(['retired', 'lost']);

function live(state: Worker, what: string) {
  if (state.status === 'none') throw new IllegalStateError(`${what}: worker does not exist`);
  if (GONE.has(state.status)) throw new IllegalStateError(`${what}: worker ${state.workerId} is ${state.status}`);
  return state;
}

function decide(command: WorkerCommand, state: Worker): WorkerEvent[] {
  switch (command.type) {
    case 'ProvisionWorker':
      if (state.status !== 'none') throw new IllegalStateError(`worker ${command.workerId} already exists`);
      return [{ type: 'WorkerProvisioning', data: { workerId: command.workerId, driver: command.driver, provisionedAt: command.now } }];
    case 'ConnectWorker': {
      const w = live(state, 'ConnectWorker');
      if (w.status !== 'provisioning') return [];
      return [
        {
          type: 'WorkerConnected',
          data: { workerId: w.workerId, hostname: command.hostname, pid: command.pid, protocolVersion: command.protocolVersion, connectedAt: command.now },
        },
      ];
    }
    case 'MarkWarm': {
      const w = live(state, 'MarkWarm');
      if (w.status === 'warm' || w.status === 'leased') return [];
      if (w.status !== 'warming') throw new IllegalStateError(`MarkWarm: worker ${w.workerId} is ${w.status}, not connected`);
      return [{ type: 'WorkerWarm', data: { workerId: w.workerId, warmAt: command.now, checks: command.checks } }];
    }
    case 'LeaseWorker': {
      const w = live(state, 'LeaseWorker');
      if (w.status === 'leased') {
        const same = w.job?.buildId === command.job.buildId && w.job?.attempt === command.job.attempt;
        if (same) return [];
        throw new IllegalStateError(`LeaseWorker: worker ${w.workerId} is leased to build ${w.job?.buildId}`);
      }
      if (w.status !== 'warm' && !command.allowCold) {
        throw new IllegalStateError(`LeaseWorker: worker ${w.workerId} is ${w.status}, not warm`);
      }
      return [{ type: 'WorkerLeased', data: { workerId: w.workerId, job: command.job, leasedAt: command.now } }];
    }
    case 'ReleaseWorker': {
      const w = live(state, 'ReleaseWorker');
      if (w.status !== 'leased' || w.job?.buildId !== command.buildId) {
        throw new IllegalStateError(`ReleaseWorker: worker ${w.workerId} does not hold build ${command.buildId}`);
      }
      return [{ type: 'WorkerReleased', data: { workerId: w.workerId, buildId: command.buildId, releasedAt: command.now } }];
    }
    case 'RetireWorker': {
      if (state.status === 'none') throw new IllegalStateError('RetireWorker: worker does not exist');
      if (GONE.has(state.status)) return [];
      return [{ type: 'WorkerRetired', data: { workerId: state.workerId, reason: command.reason, retiredAt: command.now } }];
    }
    case 'MarkLost': {
      if (state.status === 'none') throw new IllegalStateError('MarkLost: worker does not exist');
      if (GONE.has(state.status)) return [];
      return [{ type: 'WorkerLost', data: { workerId: state.workerId, reason: command.reason, lostAt: command.now } }];
    }
    default:
      return assertNever(command);
  }
}

function evolve(state: Worker, event: WorkerEvent): Worker {
  if (event.type === 'WorkerProvisioning') {
    return {
      status: 'provisioning',
      workerId: event.data.workerId,
      driver: event.data.driver,
      job: null,
      reason: null,
      provisionedAt: event.data.provisionedAt,
      warmAt: null,
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'WorkerConnected':
      return { ...state, status: 'warming' };
    case 'WorkerWarm':
      return { ...state, status: 'warm', warmAt: event.data.warmAt };
    case 'WorkerLeased':
      return { ...state, status: 'leased', job: event.data.job };
    case 'WorkerReleased':
      return { ...state, status: 'warm', job: null, warmAt: event.data.releasedAt };
    case 'WorkerRetired':
      return { ...state, status: 'retired', reason: event.data.reason };
    case 'WorkerLost':
      return { ...state, status: 'lost', reason: event.data.reason };
    default:
      return assertNever(event);
  }
}

export const workerDecider: Decider<Worker, WorkerCommand, WorkerEvent> = {
  initialState: () => ({ status: 'none' }),
  decide,
  evolve,
};
