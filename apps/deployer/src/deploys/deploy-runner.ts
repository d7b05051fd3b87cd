import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DeployEvent, DeploySpec, InstanceFailureCause, instanceIdOf, KilnNames } from '@kiln/contracts';
import { Deploy, DeployCommand, ExistingDeploy } from '@kiln/domain';
import { Aggregate, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { Backend, backendOf, EdgeRouter } from '../edge/edge-router';
import { HealthMonitor, HealthOptions } from '../health/health-monitor';
import { AdoptedInstance, freePort, InstanceProcess, isInstanceProcess, killGroup, RunningInstance } from '../runtime/instance-process';
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
}

export const DEFAULT_RUNNER_OPTIONS: Omit<DeployRunnerOptions, 'releasesDir'> = {
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
    this.opts = { ...DEFAULT_RUNNER_OPTIONS, ...opts };
    this.health = new HealthMonitor(this.opts.health);
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
    if (!spec.start) {
      return rec.handle({ type: 'FailDeploy', reason: `deploy.image (${spec.image}) needs a container runtime; the process runtime runs deploy.start`, now: now() });
    }
    if (!existsSync(releaseDir)) return rec.handle({ type: 'FailDeploy', reason: `release directory ${releaseDir} is missing`, now: now() });

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
      log.info('deploy starting', { instances: spec.instances, start: spec.start });
      for (let index = 1; index <= spec.instances && deploying(); index++) {
        const instanceId = instanceIdOf(deployId, index);
        const port = await freePort();
        let inst: InstanceProcess;
        try {
          inst = InstanceProcess.spawn({
            instanceId,
            deployId,
            command: spec.start,
            cwd: releaseDir,
            port,
            logFile: this.instanceLog(deployId, instanceId),
            env: {
              KILN_DEPLOY_ID: deployId,
              KILN_ENVIRONMENT: environment,
              KILN_INSTANCE_INDEX: String(index),
              KILN_BUILD_ID: state.buildId,
              KILN_COMMIT_SHA: state.sha ?? '',
            },
          });
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
        await rec.handle({ type: 'StartInstance', index, pid: inst.pid, port, now: now() });
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
   * At start: puts the instances of each environment's live deploy that are still running
   * (the deployer was killed, its instances were not) back into rotation; records the others
   * as failed. A deploy that was in progress is failed and its instances stopped, unless it had
   * not started any instance yet: then it runs now.
   */
  async recover(liveDeploys: ExistingDeploy[], superseded: ExistingDeploy[], interrupted: ExistingDeploy[]): Promise<ExistingDeploy[]> {
    for (const d of liveDeploys) {
      if (!d.spec || !d.releaseDir) continue;
      const rec = new DeployRecorder(this.store, this.agg, this.names.subjects.deploy(d.deployId), d.deployId);
      await rec.load();
      const release: LiveRelease = { deployId: d.deployId, spec: d.spec, releaseDir: d.releaseDir, instances: new Map() };
      const backends: Backend[] = [];
      for (const i of d.instances) {
        if (i.status === 'failed') continue;
        if (!isInstanceProcess(i.pid, i.instanceId)) {
          await rec.handle({ type: 'FailInstance', instanceId: i.instanceId, cause: 'crashed', reason: 'gone while the deployer was down', now: now() });
          continue;
        }
        const inst = new AdoptedInstance(i.instanceId, d.deployId, i.pid, i.port);
        const backend = backendOf(i.instanceId, d.deployId, i.port, true);
        const environment = d.spec.environment;
        const lost = async (cause: InstanceFailureCause, reason: string) => {
          this.health.unwatch(inst.instanceId);
          this.router.remove(environment, inst.instanceId);
          this.live.get(environment)?.instances.delete(inst.instanceId);
          await rec.handle({ type: 'FailInstance', instanceId: inst.instanceId, cause, reason, now: now() }).catch(() => undefined);
          if (cause !== 'crashed') await inst.stop(this.opts.stopGraceMs);
        };
        inst.onExit((why) => {
          this.owned.delete(inst);
          if (!inst.stopping) void lost('crashed', why);
        });
        this.owned.add(inst);
        this.health.watch(i.instanceId, i.port, d.spec.warmup, backend, (reason) => void lost('unhealthy', reason));
        release.instances.set(i.instanceId, inst);
        backends.push(backend);
      }
      this.router.swap(d.spec.environment, backends);
      this.live.set(d.spec.environment, release);
      this.log.info('live instances adopted', { deployId: d.deployId, environment: d.spec.environment, instances: [...release.instances.keys()] });
    }
    for (const d of superseded) {
      for (const i of d.instances) if (i.status !== 'failed' && isInstanceProcess(i.pid, i.instanceId)) killGroup(i.pid, 'SIGTERM');
    }
    const resume: ExistingDeploy[] = [];
    for (const d of interrupted) {
      if (d.instances.length === 0) {
        resume.push(d);
        continue;
      }
      for (const i of d.instances) if (isInstanceProcess(i.pid, i.instanceId)) killGroup(i.pid, 'SIGTERM');
      const rec = new DeployRecorder(this.store, this.agg, this.names.subjects.deploy(d.deployId), d.deployId);
      await rec.load();
      await rec.handle({ type: 'FailDeploy', reason: 'the deployer restarted during the deploy', now: now() });
      if (d.releaseDir) await rm(d.releaseDir, { recursive: true, force: true }).catch(() => undefined);
    }
    return resume;
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
