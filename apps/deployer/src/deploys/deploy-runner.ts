import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DeployEvent, DeploySpec, InstanceFailureCause, instanceIdOf, KilnNames } from '@kiln/contracts';
import { Deploy, DeployCommand, ExistingDeploy } from '@kiln/domain';
import { Aggregate, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { Backend, backendOf, EdgeRouter } from '../edge/edge-router';
import { HealthMonitor, HealthOptions } from '../health/health-monitor';
import { ProcessRuntime } from '../runtime/instance-process';
import { InstanceRef, InstanceRuntime, RunningInstance, RuntimeKind, runtimeKindOf } from '../runtime/instance-runtime';
import { warmUp } from '../warmup/warm-up';
import { DeployRecorder } from './deploy-recorder';

/** Tunables of the deploy runner (the warm-up limits themselves come from the pipeline). */
export interface DeployRunnerOptions {
  /** Where releases are checked out; instance logs go next to them. */
  releasesDir: string;
  /** Pause between two warm-up probes of an instance that is still warming. */
  probeIntervalMs: number;
  /** At most one `InstanceWarming` per instance this often (the first warm-up signal is reported at once). */
  reportIntervalMs: number;
  /** Health checks of warm instances (a crashed instance leaves rotation within about `intervalMs * failures`). */
  health: Omit<HealthOptions, 'probe'>;
  /** Longest the old instances get after a switch to finish requests they have in flight. */
  drainTimeoutMs: number;
  /** Time between SIGTERM and SIGKILL when an instance is stopped. */
  stopGraceMs: number;
  /** The instance runtimes (default: the process runtime only; `deploy.image` then fails with the reason). */
  runtimes: Partial<Record<RuntimeKind, InstanceRuntime>>;
}

export const DEFAULT_RUNNER_OPTIONS: Omit<DeployRunnerOptions, 'releasesDir' | 'runtimes'> = {
  probeIntervalMs: 250,
  reportIntervalMs: 1000,
  health: { intervalMs: 1000, timeoutMs: 5000, failures: 3 },
  drainTimeoutMs: 30_000,
  stopGraceMs: 5000,
};

/** The instances serving one environment. */
interface LiveRelease {
  deployId: string;
  spec: DeploySpec;
  releaseDir: string;
  instances: Map<string, RunningInstance>;
}

const now = () => new Date().toISOString();

/** Why a deploy that was warming up when the deployer was killed ended: its instances are stopped, the old version kept serving. */
export const DEPLOYER_RESTARTED = 'the deployer restarted during the deploy';

/**
 * Carries out deploys on this machine with the process runtime: starts the new instances
 * (each its own process group, `PORT` a free port), warms them, switches the edge to them
 * when all are warm (one swap of the environment's instance list), drains and stops the old
 * ones. A deploy that does not get there leaves the old version serving and stops its new
 * instances. Deploys of one environment run one after the other.
 *
 * Every decision is the deploy decider's (through {@link DeployRecorder}); this class only
 * does what the recorded state says.
 */
export class DeployRunner {
  readonly health: HealthMonitor;
  private readonly live = new Map<string, LiveRelease>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly owned = new Set<RunningInstance>();
  private readonly active = new Set<AbortController>();
  private stopping = false;
  private readonly opts: DeployRunnerOptions;

  constructor(
    private readonly store: EventStore,
    private readonly agg: Aggregate<Deploy, DeployCommand, DeployEvent>,
    private readonly names: KilnNames,
    readonly router: EdgeRouter,
    private readonly log: Logger,
    opts: Partial<DeployRunnerOptions> & { releasesDir: string },
  ) {
    this.opts = { ...DEFAULT_RUNNER_OPTIONS, runtimes: { process: new ProcessRuntime() }, ...opts };
    this.health = new HealthMonitor(this.opts.health);
  }

  /** The runtime that runs `spec` here, or why there is none. */
  private runtimeFor(spec: DeploySpec): InstanceRuntime | string {
    const kind = runtimeKindOf(spec);
    return this.opts.runtimes[kind] ?? `deploy.image (${spec.image}) needs the docker runtime, which this deployer was started without`;
  }

  /** The deploy serving `environment` now (null: none). */
  liveDeployId(environment: string): string | null {
    return this.live.get(environment)?.deployId ?? null;
  }

  /** Runs a started deploy once its environment is free; resolves with its final state. */
  run(deploy: ExistingDeploy): Promise<Deploy> {
    const environment = deploy.environment ?? '';
    const previous = this.queues.get(environment) ?? Promise.resolve();
    const next = previous.then(() => this.execute(deploy.deployId));
    this.queues.set(environment, next.catch(() => undefined));
    return next;
  }

  private async execute(deployId: string): Promise<Deploy> {
    const rec = new DeployRecorder(this.store, this.agg, this.names.subjects.deploy(deployId), deployId);
    const state = await rec.load();
    if (state.status !== 'deploying' || !state.spec || !state.releaseDir) return state;
    const spec = state.spec;
    const releaseDir = state.releaseDir;
    const environment = spec.environment;
    const log = this.log.child({ deployId, environment });
    // not begun: it stays `deploying` with no instance, and the next start of the deployer runs it
    if (this.stopping) return state;
    if (state.instances.length > 0) return rec.handle({ type: 'FailDeploy', reason: 'the deploy was interrupted', now: now() });
    const runtime = this.runtimeFor(spec);
    const unavailable = typeof runtime === 'string' ? runtime : await runtime.unavailable(spec).catch((e: Error) => `the ${runtimeKindOf(spec)} runtime failed: ${e.message}`);
    const missing = runtimeKindOf(spec) === 'process' && !existsSync(releaseDir) ? `release directory ${releaseDir} is missing` : null;
    if (unavailable || missing || typeof runtime === 'string') {
      log.warn('deploy cannot start', { reason: unavailable ?? missing });
      await rm(releaseDir, { recursive: true, force: true }).catch(() => undefined);
      return rec.handle({ type: 'FailDeploy', reason: (unavailable ?? missing)!, now: now() });
    }

    // a first deploy makes the environment known: it answers 503 (no instance) until the switch
    if (!this.router.environments().includes(environment)) this.router.swap(environment, []);
    const ac = new AbortController();
    this.active.add(ac);
    const mine: RunningInstance[] = [];
    const exited = new Set<string>();
    const backends = new Map<string, Backend>();
    const deploying = () => rec.state.status === 'deploying' && !ac.signal.aborted;

    /** An instance crashed or failed its health checks, during the deploy or after its switch. */
    const lost = async (inst: RunningInstance, cause: InstanceFailureCause, reason: string) => {
      this.health.unwatch(inst.instanceId);
      // out of rotation first (synchronously), then recorded
      if (this.live.get(environment)?.deployId === deployId) {
        this.router.remove(environment, inst.instanceId);
        this.live.get(environment)?.instances.delete(inst.instanceId);
      }
      log.warn('instance failed', { instanceId: inst.instanceId, cause, reason });
      const s = await rec.handle({ type: 'FailInstance', instanceId: inst.instanceId, cause, reason, now: now() }).catch((e) => {
        log.error('cannot record a failed instance', { err: e as Error });
        return rec.state;
      });
      if (s.status !== 'live') ac.abort();
      else if (this.live.get(environment)?.deployId === deployId) {
        // it failed while the switch was being recorded: the switch went first, so remove it now
        this.router.remove(environment, inst.instanceId);
        this.live.get(environment)?.instances.delete(inst.instanceId);
      }
      if (cause !== 'crashed') await inst.stop(this.opts.stopGraceMs);
    };

    try {
      log.info('deploy starting', { instances: spec.instances, runtime: runtime.kind, start: spec.start, image: spec.image });
      for (let index = 1; index <= spec.instances && deploying(); index++) {
        let inst: RunningInstance;
        try {
          inst = await this.startInstance(runtime, { deployId, environment, index, spec, releaseDir, buildId: state.buildId, sha: state.sha });
        } catch (e) {
          await rec.handle({ type: 'FailDeploy', reason: `cannot start instance ${index}: ${(e as Error).message}`, now: now() });
          break;
        }
        mine.push(inst);
        this.owned.add(inst);
        inst.onExit((why) => {
          this.owned.delete(inst);
          exited.add(inst.instanceId);
          if (!inst.stopping) void lost(inst, 'crashed', why);
        });
        await rec.handle({ type: 'StartInstance', index, pid: inst.pid, port: inst.port, now: now() });
      }

      if (deploying()) {
        await Promise.all(
          mine.map(async (inst) => {
            const r = await warmUp({
              port: inst.port,
              spec: spec.warmup,
              intervalMs: this.opts.probeIntervalMs,
              reportIntervalMs: this.opts.reportIntervalMs,
              signal: ac.signal,
              onObservation: async (o) => {
                await rec.handle({ type: 'ReportWarming', instanceId: inst.instanceId, ...o, now: now() });
              },
            });
            if (r.outcome === 'aborted' || !deploying()) return;
            if (r.outcome === 'timed_out') {
              await rec.handle({ type: 'FailInstance', instanceId: inst.instanceId, cause: 'warmup_timeout', reason: r.reason, now: now() });
              ac.abort();
              return;
            }
            await rec.handle({ type: 'MarkInstanceWarm', instanceId: inst.instanceId, tookMs: r.tookMs, warnings: r.warnings, now: now() });
            const backend = backendOf(inst.instanceId, deployId, inst.port, true);
            backends.set(inst.instanceId, backend);
            this.health.watch(inst.instanceId, inst.port, spec.warmup, backend, (reason) => void lost(inst, 'unhealthy', reason));
            log.info('instance warm', { instanceId: inst.instanceId, tookMs: r.tookMs, warnings: r.warnings });
          }),
        );
      }

      if (deploying() && !this.stopping) {
        const previous = this.live.get(environment);
        const s = await rec.handle({ type: 'SwitchTraffic', previousDeployId: previous?.deployId ?? null, now: now() });
        if (s.status === 'live') {
          // the switch: one swap of the environment's list; requests already on the old ones finish there
          // (an instance that exited while the switch was recorded stays out; its failure is recorded next)
          const old = this.router.swap(environment, mine.filter((i) => !exited.has(i.instanceId)).map((i) => backends.get(i.instanceId)!));
          this.live.set(environment, { deployId, spec, releaseDir, instances: new Map(mine.map((i) => [i.instanceId, i])) });
          log.info('traffic switched', { instances: mine.map((i) => i.instanceId), previousDeployId: previous?.deployId ?? null });
          if (previous) await this.retire(previous, old);
          return rec.state;
        }
      }
    } catch (e) {
      log.error('deploy failed with an error', { err: e as Error });
      await rec.handle({ type: 'FailDeploy', reason: `deployer error: ${(e as Error).message}`, now: now() }).catch(() => undefined);
    } finally {
      this.active.delete(ac);
    }

    // no switch: the old version keeps serving; the new instances stop
    ac.abort();
    for (const inst of mine) this.health.unwatch(inst.instanceId);
    await Promise.all(mine.map((inst) => inst.stop(this.opts.stopGraceMs)));
    if (rec.state.status === 'deploying') {
      await rec.handle({ type: 'FailDeploy', reason: 'the deployer stopped during the deploy', now: now() }).catch(() => undefined);
    }
    await rm(releaseDir, { recursive: true, force: true }).catch(() => undefined);
    log.warn('deploy did not switch traffic', { status: rec.state.status, reason: rec.state.status === 'none' ? null : rec.state.reason });
    return rec.state;
  }

  /** Starts instance `index` of a deploy with the environment every instance gets. */
  private startInstance(
    runtime: InstanceRuntime,
    d: { deployId: string; environment: string; index: number; spec: DeploySpec; releaseDir: string; buildId: string; sha: string | null },
  ): Promise<RunningInstance> {
    const instanceId = instanceIdOf(d.deployId, d.index);
    return runtime.start({
      instanceId,
      deployId: d.deployId,
      spec: d.spec,
      releaseDir: d.releaseDir,
      logFile: this.instanceLog(d.deployId, instanceId),
      env: { KILN_DEPLOY_ID: d.deployId, KILN_ENVIRONMENT: d.environment, KILN_INSTANCE_INDEX: String(d.index), KILN_BUILD_ID: d.buildId, KILN_COMMIT_SHA: d.sha ?? '' },
    });
  }

  /** Where an instance's output goes (kept after a failed deploy, removed with a retired release). */
  private instanceLog(deployId: string, instanceId: string): string {
    return join(this.opts.releasesDir, `${deployId}.instance-${instanceId.slice(instanceId.lastIndexOf('-') + 1)}.log`);
  }

  /** After a switch: the old instances finish what they have in flight (bounded), then stop. */
  private async retire(previous: LiveRelease, old: readonly Backend[]): Promise<void> {
    for (const id of previous.instances.keys()) this.health.unwatch(id);
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    while (old.some((b) => b.inflight > 0) && Date.now() < deadline && !this.stopping) await new Promise((r) => setTimeout(r, 25));
    await Promise.all([...previous.instances.values()].map((i) => i.stop(this.opts.stopGraceMs)));
    if (![...this.live.values()].some((l) => l.releaseDir === previous.releaseDir)) {
      await rm(previous.releaseDir, { recursive: true, force: true }).catch(() => undefined);
      for (const i of previous.instances.values()) await rm(this.instanceLog(previous.deployId, i.instanceId), { force: true }).catch(() => undefined);
    }
    this.log.info('old instances drained and stopped', { deployId: previous.deployId, instances: [...previous.instances.keys()] });
  }

  /**
   * At start, after a restart (a killed deployer leaves its instances running):
   * 1. each environment's live deploy (`current`: environment → the deploy of its last
   *    `TrafficSwitched`) takes traffic again: its instances that still run are adopted and put
   *    back in rotation, the ones that are gone are recorded as failed;
   * 2. every other instance of a known deploy that still runs is stopped: the instances of a
   *    deploy that was in progress, of a release the switch had replaced, and ones a killed
   *    deployer started but had not recorded yet;
   * 3. a deploy that was in progress fails ("the deployer restarted during the deploy"; the
   *    old version kept serving), unless it had not started an instance yet: it is returned, to run;
   * 4. the live deploys' instances that are gone start again behind the warm-up gate (in the
   *    background, ahead of any deploy of the same environment), so each environment gets
   *    back to its instance count.
   */
  async recover(deploys: readonly ExistingDeploy[], current: ReadonlyMap<string, string>): Promise<ExistingDeploy[]> {
    const kept = new Set<string>();
    const revivals: { release: LiveRelease; rec: DeployRecorder; runtime: InstanceRuntime; indexes: number[] }[] = [];
    for (const d of deploys) {
      if (d.status !== 'live' || !d.spec || !d.releaseDir || current.get(d.spec.environment) !== d.deployId) continue;
      const environment = d.spec.environment;
      const runtime = this.runtimeFor(d.spec);
      if (typeof runtime === 'string') {
        this.log.error('cannot adopt a live deploy', { deployId: d.deployId, environment, reason: runtime });
        continue;
      }
      const rec = new DeployRecorder(this.store, this.agg, this.names.subjects.deploy(d.deployId), d.deployId);
      await rec.load();
      const release: LiveRelease = { deployId: d.deployId, spec: d.spec, releaseDir: d.releaseDir, instances: new Map() };
      this.live.set(environment, release);
      const backends: Backend[] = [];
      for (const i of d.instances) {
        if (i.status === 'failed') continue;
        if (i.status === 'warming') {
          // it was being started again: stopped below and started once more
          await rec.handle({ type: 'FailInstance', instanceId: i.instanceId, cause: 'crashed', reason: 'was warming up when the deployer restarted', now: now() });
          continue;
        }
        const inst = await runtime.adopt({ instanceId: i.instanceId, deployId: d.deployId, pid: i.pid, port: i.port }).catch((e: Error) => {
          this.log.warn('cannot look for a live instance', { instanceId: i.instanceId, reason: e.message });
          return null;
        });
        if (!inst) {
          await rec.handle({ type: 'FailInstance', instanceId: i.instanceId, cause: 'crashed', reason: 'gone while the deployer was down', now: now() });
          continue;
        }
        kept.add(i.instanceId);
        const lost = this.serve(release, rec, inst);
        const backend = backendOf(i.instanceId, d.deployId, i.port, true);
        this.health.watch(i.instanceId, i.port, d.spec.warmup, backend, (reason) => void lost('unhealthy', reason));
        backends.push(backend);
      }
      this.router.swap(environment, backends);
      const indexes = Array.from({ length: d.spec.instances }, (_, k) => k + 1).filter((index) => {
        const i = rec.state.status === 'none' ? undefined : rec.state.instances.find((x) => x.index === index);
        return !i || !kept.has(i.instanceId);
      });
      if (indexes.length > 0) revivals.push({ release, rec, runtime, indexes });
      this.log.info('live instances adopted', { deployId: d.deployId, environment, instances: [...release.instances.keys()], toStartAgain: indexes });
    }

    // nothing else of a known deploy may keep running (or listening)
    const known = new Set(deploys.map((d) => d.deployId));
    const reap = new Map<string, { runtime: InstanceRuntime; ref: Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'> }>();
    for (const d of deploys) {
      const runtime = d.spec ? this.runtimeFor(d.spec) : null;
      if (!runtime || typeof runtime === 'string') continue;
      for (const i of d.instances) if (!kept.has(i.instanceId)) reap.set(i.instanceId, { runtime, ref: { instanceId: i.instanceId, deployId: d.deployId, pid: i.pid } });
    }
    for (const runtime of Object.values(this.opts.runtimes)) {
      const strays = await runtime.strays(known).catch((e: Error) => {
        this.log.warn('cannot look for stray instances', { runtime: runtime.kind, reason: e.message });
        return [];
      });
      for (const ref of strays) if (!kept.has(ref.instanceId)) reap.set(ref.instanceId, { runtime, ref });
    }
    await Promise.all(
      [...reap.values()].map(async ({ runtime, ref }) => {
        await runtime.reap(ref, this.opts.stopGraceMs).catch((e: Error) => this.log.warn('cannot stop a left-over instance', { instanceId: ref.instanceId, reason: e.message }));
      }),
    );
    if (reap.size > 0) this.log.info('left-over instances stopped', { instances: [...reap.keys()] });

    const resume: ExistingDeploy[] = [];
    for (const d of deploys) {
      if (d.status !== 'deploying') continue;
      if (d.instances.length === 0) {
        resume.push(d);
        continue;
      }
      const rec = new DeployRecorder(this.store, this.agg, this.names.subjects.deploy(d.deployId), d.deployId);
      await rec.load();
      await rec.handle({ type: 'FailDeploy', reason: DEPLOYER_RESTARTED, now: now() });
      if (d.releaseDir) await rm(d.releaseDir, { recursive: true, force: true }).catch(() => undefined);
      this.log.warn('deploy interrupted by a restart: failed', { deployId: d.deployId, environment: d.environment });
    }

    for (const r of revivals) {
      const environment = r.release.spec.environment;
      const previous = this.queues.get(environment) ?? Promise.resolve();
      this.queues.set(environment, previous.then(() => this.startAgain(r.release, r.rec, r.runtime, r.indexes)).catch(() => undefined));
    }
    return resume;
  }

  /**
   * Keeps a live instance in service: its crash takes it out of rotation (and is recorded);
   * returns what records its loss (a failed health check calls it).
   */
  private serve(release: LiveRelease, rec: DeployRecorder, inst: RunningInstance): (cause: InstanceFailureCause, reason: string) => Promise<void> {
    const environment = release.spec.environment;
    const lost = async (cause: InstanceFailureCause, reason: string) => {
      this.health.unwatch(inst.instanceId);
      if (this.live.get(environment) === release) {
        this.router.remove(environment, inst.instanceId);
        release.instances.delete(inst.instanceId);
      }
      this.log.warn('live instance failed', { deployId: release.deployId, instanceId: inst.instanceId, cause, reason });
      await rec.handle({ type: 'FailInstance', instanceId: inst.instanceId, cause, reason, now: now() }).catch((e: Error) => {
        this.log.error('cannot record a failed instance', { instanceId: inst.instanceId, err: e });
      });
      if (cause !== 'crashed') await inst.stop(this.opts.stopGraceMs);
    };
    release.instances.set(inst.instanceId, inst);
    this.owned.add(inst);
    inst.onExit((why) => {
      this.owned.delete(inst);
      if (!inst.stopping) void lost('crashed', why);
    });
    return lost;
  }

  /**
   * Starts a live deploy's missing instances again: each warms up like a new one and goes into
   * rotation once warm (until then the environment is served by the warm ones it has, if any).
   * One that does not warm in time is recorded as failed and stopped.
   */
  private async startAgain(release: LiveRelease, rec: DeployRecorder, runtime: InstanceRuntime, indexes: number[]): Promise<void> {
    const { deployId, spec, releaseDir } = release;
    const environment = spec.environment;
    const log = this.log.child({ deployId, environment });
    const still = () => this.live.get(environment) === release && !this.stopping;
    if (!still()) return;
    if (runtimeKindOf(spec) === 'process' && !existsSync(releaseDir)) {
      log.error('cannot start live instances again: the release directory is gone', { releaseDir, instances: indexes });
      return;
    }
    const ac = new AbortController();
    this.active.add(ac);
    try {
      await Promise.all(
        indexes.map(async (index) => {
          const instanceId = instanceIdOf(deployId, index);
          let inst: RunningInstance;
          try {
            inst = await this.startInstance(runtime, {
              deployId,
              environment,
              index,
              spec,
              releaseDir,
              buildId: rec.state.status === 'none' ? '' : rec.state.buildId,
              sha: rec.state.status === 'none' ? null : rec.state.sha,
            });
          } catch (e) {
            log.error('cannot start a live instance again', { instanceId, err: e as Error });
            return;
          }
          // its own warm-up ends when it exits, when the release is replaced or when the deployer stops
          const mine = new AbortController();
          const abort = () => mine.abort();
          ac.signal.addEventListener('abort', abort);
          inst.onExit(abort);
          try {
            const s = await rec.handle({ type: 'StartInstance', index, pid: inst.pid, port: inst.port, now: now() });
            const recorded = s.status === 'live' && s.instances.some((i) => i.instanceId === instanceId && i.pid === inst.pid && i.status === 'warming');
            if (!recorded || !still()) {
              await inst.stop(this.opts.stopGraceMs);
              return;
            }
            const lost = this.serve(release, rec, inst);
            log.info('live instance started again', { instanceId, pid: inst.pid, port: inst.port });
            const r = await warmUp({
              port: inst.port,
              spec: spec.warmup,
              intervalMs: this.opts.probeIntervalMs,
              reportIntervalMs: this.opts.reportIntervalMs,
              signal: mine.signal,
              onObservation: async (o) => {
                await rec.handle({ type: 'ReportWarming', instanceId, ...o, now: now() });
              },
            });
            if (r.outcome === 'aborted' || !still() || !release.instances.has(instanceId)) return;
            if (r.outcome === 'timed_out') {
              release.instances.delete(instanceId);
              await rec.handle({ type: 'FailInstance', instanceId, cause: 'warmup_timeout', reason: r.reason, now: now() });
              await inst.stop(this.opts.stopGraceMs);
              log.warn('live instance started again did not warm', { instanceId, reason: r.reason });
              return;
            }
            await rec.handle({ type: 'MarkInstanceWarm', instanceId, tookMs: r.tookMs, warnings: r.warnings, now: now() });
            if (!still() || !release.instances.has(instanceId)) return;
            const backend = backendOf(instanceId, deployId, inst.port, true);
            this.router.add(environment, backend);
            this.health.watch(instanceId, inst.port, spec.warmup, backend, (reason) => void lost('unhealthy', reason));
            log.info('live instance warm again: in rotation', { instanceId, tookMs: r.tookMs });
          } finally {
            ac.signal.removeEventListener('abort', abort);
          }
        }),
      );
    } finally {
      this.active.delete(ac);
    }
  }

  /** Stops every deploy in progress (they fail; the old versions stay) and every instance. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const ac of this.active) ac.abort();
    this.health.stopAll();
    await Promise.all([...this.queues.values()]);
    await Promise.all([...this.owned].map((i) => i.stop(this.opts.stopGraceMs)));
  }
}
