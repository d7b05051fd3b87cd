import { hostname } from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { Attr, AGENT_PROTOCOL_VERSION, IllegalStateError, KilnNames, LeaseJob } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { Worker } from '@kiln/domain';
import { Aggregates, EventStore, follow, Following } from '@kiln/event-store';
import { AGGREGATES, CONFIG, LOGGER, NAMES, NATS } from '@kiln/service-kit';
import { inSpan, Logger } from '@kiln/telemetry';
import { HeartbeatSender } from './heartbeat';
import { JobRunner } from './job-runner';
import { saveCodeCacheAfterBuild } from './code-cache';
import { CacheRefresh, cacheWarmUp, refreshWhileIdle } from '../cache/cache-warm-up';
import { warmUp } from './warm-up';
import { rehearse, rehearseBuild } from './rehearsal';

/** CPU time (user + system) this process has used, in ms. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
};

/**
 * The agent's lifecycle (protocol v1): connect → warm-up → heartbeat → warm → wait for a
 * lease on its own worker subject → run the build → retire → exit. It connects out to NATS
 * only and opens no port. If its worker is marked lost or retired by the pool, it stops.
 */
@Injectable()
export class AgentService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly workerId: string;
  private readonly subject: string;
  private heartbeat: HeartbeatSender;
  private watch: Following | null = null;
  private job: Promise<void> | null = null;
  /** Keeps the prefetched cache copies current while the worker is idle. */
  private cacheRefresh: CacheRefresh | null = null;
  private exiting = false;
  /** This agent is recording its own retirement: the WorkerRetired its watch brings back is not the pool ending it. */
  private retiring = false;
  /**
   * The worker as its watch last saw it: the agent's own commands after the lease decide on
   * it, not on the state of its own last append (the pool's WorkerLeased came after that one,
   * so every retirement would first fail on the stream's sequence and read the worker again).
   */
  private known: { state: Worker; lastSeq: number } | undefined;
  private readonly log: Logger;

  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(NATS) private readonly nc: NatsConnection,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) log: Logger,
  ) {
    if (!cfg.workerId) throw new Error('KILN_WORKER_ID is not set: the agent is started by the pool-manager with its worker id');
    this.workerId = cfg.workerId;
    this.log = log.child({ workerId: this.workerId });
    this.subject = names.subjects.worker(this.workerId);
    this.heartbeat = new HeartbeatSender(nc, names, this.workerId, cfg.heartbeatMs);
  }

  private cause() {
    return { correlationId: this.workerId };
  }

  async onApplicationBootstrap(): Promise<void> {
    const now = () => new Date().toISOString();
    await this.store.handle(this.aggs.worker, this.subject, { type: 'ConnectWorker', hostname: hostname(), pid: process.pid, protocolVersion: AGENT_PROTOCOL_VERSION, now: now() }, this.cause());
    // heartbeats start at once: a long warm-up must not look like a lost worker
    await this.heartbeat.start();
    let checks: string[];
    try {
      checks = await inSpan('agent.warm-up', { [Attr.workerId]: this.workerId }, () => warmUp({
        workRoot: this.cfg.workRoot,
        command: this.cfg.poolWarmupCommand,
        timeoutMs: this.cfg.poolWarmupTimeoutMs,
        cache: cacheWarmUp(this.nc, this.names, this.cfg),
        warn: (message, detail) => this.log.warn(message, detail),
      }));
    } catch (e) {
      this.log.error('warm-up failed; retiring', { reason: (e as Error).message });
      await this.retire(`warm-up failed: ${(e as Error).message}`);
      return;
    }
    checks.push(rehearse());
    await this.store.handle(this.aggs.worker, this.subject, { type: 'MarkWarm', checks, now: now() }, this.cause());
    // the CPU this agent took to get here: what each ephemeral worker costs the builds beside it
    this.log.info('worker warm', { checks, cpuMs: cpuMs() });
    void this.startCacheRefresh();
    this.watch = await follow(this.store.js, this.store.jsm, {
      stream: this.aggs.worker.stream,
      filter: this.subject,
      onMessage: (m) => {
        const e = this.aggs.worker.codec.decode(m.data, m.seq, m.subject);
        // the watch reads the subject from its first event: the fold is the whole worker
        this.known = { state: this.aggs.worker.decider.evolve(this.known?.state ?? this.aggs.worker.decider.initialState(), e), lastSeq: m.seq };
        if (e.type === 'WorkerLeased' && !this.job) {
          const job = e.data.job;
          this.stopCacheRefresh();
          this.job = inSpan('agent.build', { [Attr.buildId]: job.buildId, [Attr.workerId]: this.workerId, [Attr.attempt]: job.attempt }, () => this.runJob(job), {
            parent: e.meta.traceparent,
          });
        } else if ((e.type === 'WorkerLost' || e.type === 'WorkerRetired') && !this.exiting && !this.retiring) {
          this.log.warn('worker ended by the pool; stopping', { event: e.type });
          void this.exit(0);
        }
      },
      onError: (e) => this.log.error('bad worker event', { reason: (e as Error).message }),
    });
    void this.rehearseBuild();
  }

  /**
   * Rehearses a build's path once the worker is warm and watching for its lease, not
   * before: a cold worker leased during its warm-up (no warm one was left) starts its build
   * without waiting for it. Skipped when a lease came first; only speed is at stake.
   */
  private async rehearseBuild(): Promise<void> {
    if (this.job || this.exiting) return;
    try {
      const check = await inSpan('agent.rehearse', { [Attr.workerId]: this.workerId }, () => rehearseBuild(this.store, this.aggs, this.names, this.workerId, this.cfg.workRoot));
      this.log.debug(check);
    } catch (e) {
      this.log.warn('build rehearsal failed; the first build will be slower', { reason: (e as Error).message });
    }
  }

  private async runJob(job: LeaseJob): Promise<void> {
    const log = this.log.child({ buildId: job.buildId, attempt: job.attempt });
    this.heartbeat.buildId = job.buildId;
    log.info('lease received; starting build');
    try {
      const outcome = await new JobRunner(this.store, this.aggs, this.names, this.workerId, job, this.cfg.workRoot, log).run();
      log.info('build done', { outcome, cpuMs: cpuMs() });
      const cache = saveCodeCacheAfterBuild();
      if (cache) log.debug('agent code cache', { result: cache });
      // a timed-out build's worker is retired even when reusable: whatever hung may still hold it
      if (this.cfg.poolEphemeral || outcome === 'rejected' || outcome === 'timed_out') {
        await this.retire(outcome === 'rejected' ? 'lease rejected by the build' : this.cfg.poolEphemeral ? `ephemeral: build ${outcome}` : `build ${outcome}`);
      } else {
        // a reusable worker goes back to the pool, warm, for the next lease
        await this.store.handle(this.aggs.worker, this.subject, { type: 'ReleaseWorker', buildId: job.buildId, now: new Date().toISOString() }, this.cause(), { known: this.known });
        this.heartbeat.buildId = null;
        this.job = null;
        void this.startCacheRefresh();
      }
    } catch (e) {
      log.error('build crashed', { err: e as Error });
      await this.retire(`agent error: ${(e as Error).message}`);
    }
  }

  /**
   * Runs beside the lease watch, never before it; a lease that came while it was starting
   * stops it at once. One that cannot start is logged: the worker is warm with what it has.
   */
  private async startCacheRefresh(): Promise<void> {
    try {
      const refresh = await refreshWhileIdle(this.nc, this.names, this.cfg, (message, detail) => this.log.warn(message, detail));
      if (this.job || this.exiting) refresh.stop();
      else this.cacheRefresh = refresh;
    } catch (e) {
      this.log.warn('cache refresh did not start', { reason: (e as Error).message });
    }
  }

  private stopCacheRefresh(): void {
    this.cacheRefresh?.stop();
    this.cacheRefresh = null;
  }

  private async retire(reason: string): Promise<void> {
    this.retiring = true;
    try {
      await this.store.handle(this.aggs.worker, this.subject, { type: 'RetireWorker', reason, now: new Date().toISOString() }, this.cause(), { known: this.known });
    } catch (e) {
      if (!(e instanceof IllegalStateError)) this.log.error('retire failed', { err: e as Error });
    }
    await this.exit(0);
  }

  private async exit(code: number): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    this.heartbeat.stop();
    // let the current callback finish before draining
    setImmediate(() => process.kill(process.pid, 'SIGTERM'));
    process.exitCode = code;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopCacheRefresh();
    this.heartbeat.stop();
    await this.watch?.stop();
  }
}
