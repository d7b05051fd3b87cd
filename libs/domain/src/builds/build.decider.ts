import {
  BuildEvent,
  BuildEventData,
  BuildSource,
  BuildStatus,
  IllegalStateError,
  StepOutcome,
} from '@kiln/contracts';
import { Decider, assertNever } from '../decider';

export interface StepState {
  index: number;
  name: string;
  status: 'pending' | 'running' | StepOutcome;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

/** A build's state; `status: 'none'` before its first event. */
export type Build =
  | { status: 'none' }
  | {
      status: 'requested' | BuildStatus;
      buildId: string;
      projectId: string;
      trigger: BuildEventData<'BuildRequested'>['trigger'];
      source: BuildSource;
      attempt: number;
      workerId: string | null;
      steps: StepState[];
      /** The loaded pipeline's whole-build timeout (ms); null until the pipeline is loaded. */
      timeoutMs: number | null;
      /**
       * What the loaded pipeline deploys: `{ environment }`, or null when it has no `deploy`
       * section; undefined while not known (pipeline not loaded, or loaded before this was recorded).
       */
      deploy: PipelineDeploy | undefined;
      cancelRequested: boolean;
      reason: string | null;
      exitCode: number | null;
      requestedAt: string;
      queuedAt: string | null;
      startedAt: string | null;
      finishedAt: string | null;
    };

export type ExistingBuild = Exclude<Build, { status: 'none' }>;

/** A pipeline's deploy as `PipelineLoaded` records it (null: the pipeline has no `deploy` section). */
export type PipelineDeploy = NonNullable<BuildEventData<'PipelineLoaded'>['deploy']> | null;

/** Commands on a build. `now` is an ISO time chosen by the caller. */
export type BuildCommand =
  | { type: 'RequestBuild'; data: BuildEventData<'BuildRequested'> }
  | { type: 'QueueBuild'; now: string }
  | { type: 'AssignBuild'; workerId: string; attempt: number; now: string }
  | { type: 'StartBuild'; workerId: string; attempt: number; now: string }
  | { type: 'LoadPipeline'; attempt: number; sha: string; steps: { name: string }[]; timeoutMs?: number; deploy?: PipelineDeploy }
  | { type: 'StartStep'; attempt: number; index: number; name: string; now: string }
  | {
      type: 'FinishStep';
      attempt: number;
      index: number;
      name: string;
      outcome: StepOutcome;
      exitCode: number | null;
      durationMs: number;
      now: string;
    }
  | {
      type: 'FinishBuild';
      attempt: number;
      outcome: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
      reason: string | null;
      exitCode: number | null;
      now: string;
    }
  | { type: 'RecordCacheRestore'; data: BuildEventData<'CacheRestored'> }
  | { type: 'RecordCacheSave'; data: BuildEventData<'CacheSaved'> }
  | { type: 'CancelBuild'; reason: string; now: string }
  | { type: 'RequeueBuild'; attempt: number; reason: string; maxAttempts: number; now: string };

export const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export function isFinal(b: Build): boolean {
  return FINAL.has(b.status);
}

function existing(state: Build, what: string): ExistingBuild {
  if (state.status === 'none') throw new IllegalStateError(`${what}: build does not exist`);
  return state;
}

function notFinal(b: ExistingBuild, what: string): void {
  if (FINAL.has(b.status)) throw new IllegalStateError(`${what}: build ${b.buildId} already ${b.status}`);
}

/** Fencing: a command from another attempt than the current one is rejected. */
function sameAttempt(b: ExistingBuild, attempt: number, what: string): void {
  if (b.attempt !== attempt) {
    throw new IllegalStateError(`${what}: attempt ${attempt} is superseded (current attempt ${b.attempt})`);
  }
}

function decide(command: BuildCommand, state: Build): BuildEvent[] {
  switch (command.type) {
    case 'RequestBuild': {
      if (state.status !== 'none') throw new IllegalStateError(`build ${command.data.buildId} already exists`);
      return [{ type: 'BuildRequested', data: command.data }];
    }
    case 'QueueBuild': {
      const b = existing(state, 'QueueBuild');
      if (b.status !== 'requested') return []; // already queued (idempotent)
      return [{ type: 'BuildQueued', data: { buildId: b.buildId, projectId: b.projectId, attempt: 1, queuedAt: command.now } }];
    }
    case 'AssignBuild': {
      const b = existing(state, 'AssignBuild');
      notFinal(b, 'AssignBuild');
      sameAttempt(b, command.attempt, 'AssignBuild');
      if (b.workerId === command.workerId) return []; // idempotent, or the agent started first
      if (b.status !== 'queued') throw new IllegalStateError(`AssignBuild: build ${b.buildId} is ${b.status}`);
      return [{ type: 'BuildAssigned', data: { buildId: b.buildId, workerId: command.workerId, attempt: command.attempt, assignedAt: command.now } }];
    }
    case 'StartBuild': {
      const b = existing(state, 'StartBuild');
      notFinal(b, 'StartBuild');
      sameAttempt(b, command.attempt, 'StartBuild');
      if (b.cancelRequested) throw new IllegalStateError(`StartBuild: build ${b.buildId} was cancelled`);
      if (b.status === 'running') {
        if (b.workerId === command.workerId) return [];
        throw new IllegalStateError(`StartBuild: build ${b.buildId} runs on worker ${b.workerId}`);
      }
      if (b.status === 'assigned' && b.workerId !== command.workerId) {
        throw new IllegalStateError(`StartBuild: build ${b.buildId} is assigned to worker ${b.workerId}`);
      }
      if (b.status !== 'queued' && b.status !== 'assigned') {
        throw new IllegalStateError(`StartBuild: build ${b.buildId} is ${b.status}`);
      }
      const started: BuildEvent = { type: 'BuildStarted', data: { buildId: b.buildId, workerId: command.workerId, attempt: command.attempt, startedAt: command.now } };
      // the leased agent was faster than the scheduler's record of the assignment: it records
      // both, so every history reads queued → assigned → running (the scheduler's own
      // AssignBuild for this worker is then a no-op, and one for another worker is refused)
      if (b.status === 'queued') return [{ type: 'BuildAssigned', data: { buildId: b.buildId, workerId: command.workerId, attempt: command.attempt, assignedAt: command.now } }, started];
      return [started];
    }
    case 'LoadPipeline': {
      const b = running(state, command.attempt, 'LoadPipeline');
      return [
        {
          type: 'PipelineLoaded',
          data: {
            buildId: b.buildId,
            attempt: command.attempt,
            sha: command.sha,
            steps: command.steps,
            ...(command.timeoutMs === undefined ? {} : { timeoutMs: command.timeoutMs }),
            ...(command.deploy === undefined ? {} : { deploy: command.deploy }),
          },
        },
      ];
    }
    case 'StartStep': {
      const b = running(state, command.attempt, 'StartStep');
      return [{ type: 'StepStarted', data: { buildId: b.buildId, attempt: command.attempt, index: command.index, name: command.name, startedAt: command.now } }];
    }
    case 'FinishStep': {
      const b = running(state, command.attempt, 'FinishStep');
      return [
        {
          type: 'StepFinished',
          data: {
            buildId: b.buildId,
            attempt: command.attempt,
            index: command.index,
            name: command.name,
            outcome: command.outcome,
            exitCode: command.exitCode,
            durationMs: command.durationMs,
            finishedAt: command.now,
          },
        },
      ];
    }
    case 'FinishBuild': {
      const b = existing(state, 'FinishBuild');
      notFinal(b, 'FinishBuild');
      sameAttempt(b, command.attempt, 'FinishBuild');
      const base = { buildId: b.buildId, attempt: command.attempt, finishedAt: command.now };
      switch (command.outcome) {
        case 'succeeded':
          return [{ type: 'BuildSucceeded', data: base }];
        case 'failed':
          return [{ type: 'BuildFailed', data: { ...base, reason: command.reason ?? 'failed', exitCode: command.exitCode } }];
        case 'timed_out':
          return [{ type: 'BuildTimedOut', data: { ...base, reason: command.reason ?? 'timed out' } }];
        case 'cancelled':
          return [{ type: 'BuildCancelled', data: { ...base, reason: command.reason ?? 'cancelled' } }];
        default:
          return assertNever(command.outcome);
      }
    }
    case 'RecordCacheRestore': {
      running(state, command.data.attempt, 'RecordCacheRestore');
      return [{ type: 'CacheRestored', data: command.data }];
    }
    case 'RecordCacheSave': {
      running(state, command.data.attempt, 'RecordCacheSave');
      return [{ type: 'CacheSaved', data: command.data }];
    }
    case 'CancelBuild': {
      const b = existing(state, 'CancelBuild');
      notFinal(b, 'CancelBuild');
      if (b.status === 'requested' || b.status === 'queued') {
        return [{ type: 'BuildCancelled', data: { buildId: b.buildId, attempt: b.attempt, reason: command.reason, finishedAt: command.now } }];
      }
      if (b.cancelRequested) return [];
      return [{ type: 'BuildCancelRequested', data: { buildId: b.buildId, reason: command.reason, requestedAt: command.now } }];
    }
    case 'RequeueBuild': {
      const b = existing(state, 'RequeueBuild');
      notFinal(b, 'RequeueBuild');
      sameAttempt(b, command.attempt, 'RequeueBuild');
      if (b.cancelRequested) {
        return [{ type: 'BuildCancelled', data: { buildId: b.buildId, attempt: b.attempt, reason: `cancelled; ${command.reason}`, finishedAt: command.now } }];
      }
      if (command.attempt >= command.maxAttempts) {
        return [
          {
            type: 'BuildFailed',
            data: {
              buildId: b.buildId,
              attempt: b.attempt,
              reason: `${command.reason}; gave up after ${command.attempt} attempts`,
              exitCode: null,
              finishedAt: command.now,
            },
          },
        ];
      }
      return [{ type: 'BuildRequeued', data: { buildId: b.buildId, attempt: command.attempt + 1, reason: command.reason, requeuedAt: command.now } }];
    }
    default:
      return assertNever(command);
  }
}

function running(state: Build, attempt: number, what: string): ExistingBuild {
  const b = existing(state, what);
  notFinal(b, what);
  sameAttempt(b, attempt, what);
  if (b.status !== 'running') throw new IllegalStateError(`${what}: build ${b.buildId} is ${b.status}, not running`);
  return b;
}

function evolve(state: Build, event: BuildEvent): Build {
  if (event.type === 'BuildRequested') {
    const d = event.data;
    return {
      status: 'requested',
      buildId: d.buildId,
      projectId: d.projectId,
      trigger: d.trigger,
      source: d.source,
      attempt: 0,
      workerId: null,
      steps: [],
      timeoutMs: null,
      deploy: undefined,
      cancelRequested: false,
      reason: null,
      exitCode: null,
      requestedAt: d.requestedAt,
      queuedAt: null,
      startedAt: null,
      finishedAt: null,
    };
  }
  if (state.status === 'none') return state;
  const b = state;
  switch (event.type) {
    case 'BuildQueued':
      return { ...b, status: 'queued', attempt: event.data.attempt, queuedAt: event.data.queuedAt };
    case 'BuildAssigned':
      return { ...b, status: 'assigned', workerId: event.data.workerId };
    case 'BuildStarted':
      return { ...b, status: 'running', workerId: event.data.workerId, startedAt: event.data.startedAt };
    case 'PipelineLoaded':
      return {
        ...b,
        source: { ...b.source, sha: event.data.sha },
        timeoutMs: event.data.timeoutMs ?? null,
        deploy: event.data.deploy,
        steps: event.data.steps.map((s, index) => ({
          index,
          name: s.name,
          status: 'pending',
          exitCode: null,
          startedAt: null,
          finishedAt: null,
          durationMs: null,
        })),
      };
    case 'StepStarted':
      return { ...b, steps: updateStep(b.steps, event.data.index, event.data.name, { status: 'running', startedAt: event.data.startedAt }) };
    case 'StepFinished':
      return {
        ...b,
        steps: updateStep(b.steps, event.data.index, event.data.name, {
          status: event.data.outcome,
          exitCode: event.data.exitCode,
          finishedAt: event.data.finishedAt,
          durationMs: event.data.durationMs,
        }),
      };
    case 'BuildSucceeded':
      return { ...b, status: 'succeeded', finishedAt: event.data.finishedAt };
    case 'BuildFailed':
      return { ...b, status: 'failed', reason: event.data.reason, exitCode: event.data.exitCode, finishedAt: event.data.finishedAt };
    case 'BuildTimedOut':
      return { ...b, status: 'timed_out', reason: event.data.reason, finishedAt: event.data.finishedAt };
    case 'BuildCancelRequested':
      return { ...b, cancelRequested: true, reason: event.data.reason };
    case 'BuildCancelled':
      return { ...b, status: 'cancelled', cancelRequested: true, reason: event.data.reason, finishedAt: event.data.finishedAt };
    case 'CacheRestored':
    case 'CacheSaved':
      return b; // recorded for the history and the API; the build's status is unchanged
    case 'BuildRequeued':
      return {
        ...b,
        status: 'queued',
        attempt: event.data.attempt,
        workerId: null,
        steps: [],
        timeoutMs: null,
        deploy: undefined,
        reason: event.data.reason,
        queuedAt: event.data.requeuedAt,
        startedAt: null,
      };
    default:
      return assertNever(event);
  }
}

function updateStep(steps: StepState[], index: number, name: string, patch: Partial<StepState>): StepState[] {
  const out = steps.slice();
  const prev: StepState = out[index] ?? { index, name, status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null };
  out[index] = { ...prev, ...patch };
  return out;
}

export const buildDecider: Decider<Build, BuildCommand, BuildEvent> = {
  initialState: () => ({ status: 'none' }),
  decide,
  evolve,
};
