import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { JSONCodec, NatsConnection, Subscription } from 'nats';
import {
  Attr,
  BuildEvent,
  HeartbeatSchema,
  IllegalStateError,
  KilnNames,
  LeaseReply,
  LeaseRequestSchema,
  newId,
  WorkerEvent,
} from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { Build, BuildCommand, isFinal, Worker, WorkerCommand } from '@kiln/domain';
import { AggregateView, Aggregates, EventStore } from '@kiln/event-store';
import { FULL_SHA_RE, GitMirrors, redactUrl, redactUrlIn } from '@kiln/git';
import { AGGREGATES, CoalescedRunner, CONFIG, LOGGER, NAMES, NATS, Readiness } from '@kiln/service-kit';
import { inSpan, Logger } from '@kiln/telemetry';
import { WorkerDriver } from '../drivers/driver';
import { chooseWorker, pastItsStart, planPool } from './pool-policy';
import { Leadership } from './leadership';

export const WORKER_DRIVER = Symbol('WORKER_DRIVER');
const json = JSONCodec();
/** How long an agent that was retired or lost has to exit by itself before its process group is stopped. */
const REAP_GRACE_MS = 5000;
/** The longest a leased build counts as starting, holding back the pool's top-up (a slow clone must not keep the pool short). */
const STARTING_HOLD_MAX_MS = 2000;
/** A prepared workspace this old was left by a pool-manager that stopped: removed at start. */
const PREPARED_MAX_AGE_MS = 3_600_000;
type W = Exclude<Worker, { status: 'none' }>;

/**
 * The warm pool: keeps `minWarm` idle workers ready, answers lease requests from warm
 * workers only (cold only when none is warm), and marks workers lost when their
 * heartbeats stop. State is the workers stream; this service holds a view of it.
 */
@Injectable()
export class PoolService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly view: AggregateView<Worker, WorkerCommand, WorkerEvent>;
  /** Unfinished builds: the queue depth drives scale-up. */
  private readonly builds: AggregateView<Build, BuildCommand, BuildEvent>;
  private readonly lastSeen = new Map<string, number>();
  private readonly leadership: Leadership;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Builds leased (seen live) that have not run their first step yet, by build id: when their lease was seen. */
  private readonly starting = new Map<string, number>();
  private holdTimer: NodeJS.Timeout | null = null;
  private leaseSub: Subscription | null = null;
  private hbSub: Subscription | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private live = false;
  private stopping = false;
  private readonly runner: CoalescedRunner;
  private readonly startedAt = Date.now();
  /** The host's git mirrors (null when off). */
  private readonly mirrors: GitMirrors | null;
  /** Builds whose workspace this process prepared (or is preparing) in the mirrors, until their worker checked out or they ended. */
  private readonly prepared = new Set<string>();

  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(NATS) private readonly nc: NatsConnection,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(WORKER_DRIVER) private readonly driver: WorkerDriver,
    readiness: Readiness,
  ) {
    this.view = new AggregateView(store, aggs.worker, names.subjects.allWorkers, {
      onEvent: (id, w, e, live) => {
        if (!live) return;
        if (e.type === 'WorkerLeased') this.starting.set(e.data.job.buildId, Date.now());
        if (w.status === 'retired' || w.status === 'lost') this.reapLater(id);
        this.kick();
      },
      onError: (e) => this.log.error('skipped malformed worker event', { reason: (e as Error).message }),
      evict: (w) => w.status === 'retired' || w.status === 'lost',
    });
    this.runner = new CoalescedRunner(() => this.reconcile(), (e) => this.log.error('pool reconcile failed', { err: e as Error }));
    // a repository on this host is borrowed, not fetched, where agents see the host's files (not in containers)
    this.mirrors = cfg.gitMirrorDir ? new GitMirrors(cfg.gitMirrorDir, { objectReaders: true, borrowLocal: driver.name === 'process' }) : null;
    this.builds = new AggregateView(store, aggs.build, names.subjects.allBuilds, {
      // no kick here: a queued build first asks for a lease, and a miss kicks the pool;
      // provisioning on every queued build would spawn processes while the lease waits
      onEvent: (id, b, e, live) => {
        if (!live) return;
        // once its worker checked out (or it ended), a workspace not taken is waste
        if ((e.type === 'PipelineLoaded' || isFinal(b)) && this.prepared.delete(id)) void this.mirrors?.discard(id).catch(() => undefined);
        if (e.type === 'BuildRequested') this.prefetch(e.data.buildId, e.data.source.repoUrl, e.data.source.sha);
        // a starting build that ran its first step (or ended, or went back to the queue) releases the held-back top-up
        else if ((e.type === 'StepStarted' || e.type === 'BuildRequeued' || isFinal(b)) && this.starting.delete(id)) this.kick();
      },

      onError: (e) => this.log.error('skipped malformed build event', { reason: (e as Error).message }),
      evict: (b) => isFinal(b),
    });
    this.leadership = new Leadership(nc, names.buckets.poolLeader, newId(), Math.max(3000, cfg.heartbeatMs * 2), log, () => this.kick());
    readiness.register('pool', () => {
      if (!this.live) throw new Error('replaying workers stream');
    });
    driver.onExit((workerId, detail) => void this.agentExited(workerId, detail));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.hbSub = this.nc.subscribe(this.names.subjects.allHeartbeats, {
      callback: (err, msg) => {
        if (err) return;
        const hb = HeartbeatSchema.safeParse(safeJson(msg.data));
        if (hb.success) this.lastSeen.set(hb.data.workerId, Date.now());
      },
    });
    await Promise.all([this.view.start(), this.builds.start()]);
    // workspaces prepared by a pool-manager that stopped before their builds ended
    await this.mirrors?.sweepPrepared(PREPARED_MAX_AGE_MS).catch((e: unknown) => this.log.warn('could not sweep old prepared workspaces', { reason: (e as Error).message }));
    await this.leadership.start();
    // replicas share lease requests through a queue group
    this.leaseSub = this.nc.subscribe(this.names.subjects.leaseRequest, {
      queue: `${this.names.namespace}-pool-manager`,
      callback: (err, msg) => {
        if (err) return;
        const parent = msg.headers?.get('traceparent') || undefined;
        void inSpan('pool.lease', {}, () => this.onLeaseRequest(msg.data), { parent })
          .catch((e): LeaseReply => {
            this.log.error('lease request failed', { err: e as Error });
            return { ok: false, reason: (e as Error).message };
          })
          .then((reply) => msg.respond(json.encode(reply)));
      },
    });
    this.sweepTimer = setInterval(() => void this.sweep(), this.cfg.heartbeatMs);
    this.sweepTimer.unref();
    this.live = true;
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    await this.leadership.stop();
    this.leaseSub?.unsubscribe();
    this.hbSub?.unsubscribe();
    await this.runner.stop();
    await Promise.all([this.view.stop(), this.builds.stop()]);
    // this pool's agents stop with it; their workers are retired (a leased one's build is requeued by the scheduler when it is marked lost)
    const mine = [...this.workers()].filter((w) => w.status !== 'retired' && w.status !== 'lost');
    await this.driver.stopAll();
    this.mirrors?.close();
    await Promise.all(mine.map((w) => this.command(w.workerId, { type: 'MarkLost', reason: 'pool-manager stopped', now: new Date().toISOString() })));
  }

  /**
   * A worker retired or lost by anyone (itself, the scheduler's timeout backstop, a sweep)
   * must not keep running: an agent that ends itself exits within moments, so after a
   * grace its process group is stopped if it is still there (a no-op otherwise).
   */
  private reapLater(workerId: string): void {
    const timer = setTimeout(() => {
      if (this.stopping) return;
      void this.driver.stop(workerId).catch((e) => this.log.error('stopping a retired agent failed', { workerId, err: e as Error }));
    }, REAP_GRACE_MS);
    timer.unref();
  }

  /**
   * Fetches a requested build's commit into the host's git mirror while the build is
   * queued and leased, so its worker checks out without a fetch of its own; and, for
   * agents on this host, checks it out into a workspace the leased worker takes with a
   * rename. Best effort: a worker that finds neither checks out, or fetches, itself.
   */
  private prefetch(buildId: string, repoUrl: string, sha: string | null | undefined): void {
    if (!this.mirrors || !sha || !FULL_SHA_RE.test(sha) || this.stopping) return;
    const started = Date.now();
    // agents on this host (process driver) take a prepared workspace with a rename; as many
    // wait at once as workers stand idle to take them, the other builds get the commit only
    const idle = [...this.workers()].filter((w) => w.status === 'warm').length;
    const prepare = this.driver.name === 'process' && this.prepared.size < Math.max(1, idle);
    if (prepare) this.prepared.add(buildId);
    const mirrors = this.mirrors;
    inSpan(prepare ? 'pool.prepare-workspace' : 'pool.prefetch-commit', { [Attr.buildId]: buildId }, () => (prepare ? mirrors.prepare(repoUrl, sha, buildId) : mirrors.ensure(repoUrl, sha)), {
      parent: this.builds.traces.get(buildId),
    }).then(
      () => this.log.debug(prepare ? 'workspace prepared from the git mirror' : 'commit prefetched into the git mirror', { buildId, ms: Date.now() - started }),
      (e: unknown) => this.log.info('git mirror prefetch failed; the worker will fetch directly', { buildId, repoUrl: redactUrl(repoUrl), reason: redactUrlIn((e as Error).message, repoUrl) }),
    );
  }

  private *workers(): Iterable<W> {
    for (const w of this.view.states.values()) if (w.status !== 'none') yield w;
  }

  private async onLeaseRequest(data: Uint8Array): Promise<LeaseReply> {
    const req = LeaseRequestSchema.safeParse(safeJson(data));
    if (!req.success) return { ok: false, reason: `malformed lease request: ${req.error.message}` };
    const job = req.data.job;
    for (let tries = 0; tries < 5; tries++) {
      let choice = chooseWorker(this.workers(), job);
      if (!choice && tries === 0) {
        // the scheduler may have seen a worker turn warm before this view did
        await this.view.sync(500);
        choice = chooseWorker(this.workers(), job);
      }
      if (!choice) break;
      try {
        await this.command(choice.worker.workerId, { type: 'LeaseWorker', job, allowCold: choice.cold, now: new Date().toISOString() }, job.buildId, true);
        this.log.info('worker leased', { workerId: choice.worker.workerId, buildId: job.buildId, attempt: job.attempt, cold: choice.cold });
        // starting from now, not from when the view shows the lease: until then the build
        // would count as waiting and the worker as idle, and the pool would start an agent
        if (!choice.cold) this.starting.set(job.buildId, Date.now());
        this.kick();
        return { ok: true, workerId: choice.worker.workerId };
      } catch (e) {
        if (!(e instanceof IllegalStateError)) throw e;
        // another replica took it, or our view lagged: look again
        await this.view.sync(500);
      }
    }
    this.kick();
    return { ok: false, reason: 'no warm worker available' };
  }

  /** Coalesces bursts of events into one reconcile run at a time. */
  private kick(): void {
    if (this.live && !this.stopping) this.runner.kick();
  }

  /** Queued builds that no leased worker holds yet. */
  private waitingBuilds(): number {
    const held = new Set<string>();
    for (const w of this.workers()) if (w.status === 'leased' && w.job) held.add(w.job.buildId);
    let n = 0;
    for (const b of this.builds.states.values()) {
      if ((b.status === 'requested' || b.status === 'queued') && !b.cancelRequested && !held.has(b.buildId) && !this.starting.has(b.buildId)) n++;
    }
    return n;
  }

  private async reconcile(): Promise<void> {
    if (!this.leadership.isLeader) return;
    const now = Date.now();
    // forget the builds past their start first: a starting build does not count as waiting
    const starting = this.startingBuilds(now);
    const plan = planPool({
      workers: this.workers(),
      minWarm: this.cfg.poolMinWarm,
      maxWorkers: this.cfg.poolMaxWorkers,
      waiting: this.waitingBuilds(),
      starting,
      now,
      idleTtlMs: this.cfg.poolIdleTtlMs,
    });
    if (plan.deferred > 0) this.releaseHoldLater(now);
    await Promise.all(Array.from({ length: plan.provision }, () => this.provision()));
    for (const workerId of plan.retire) {
      this.log.info('retiring idle worker', { workerId, idleTtlMs: this.cfg.poolIdleTtlMs });
      await this.command(workerId, { type: 'RetireWorker', reason: `idle for more than ${Math.round(this.cfg.poolIdleTtlMs / 1000)} s`, now: new Date().toISOString() });
      await this.driver.stop(workerId);
    }
    // one timer for the next idle expiry (not a polling loop)
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (plan.nextExpiry !== null) {
      this.idleTimer = setTimeout(() => this.kick(), Math.max(0, plan.nextExpiry - now) + 10);
      this.idleTimer.unref();
    }
  }

  /** Leased builds that have not run their first step yet (each for at most STARTING_HOLD_MAX_MS); forgets the others. */
  private startingBuilds(now: number): number {
    for (const [buildId, since] of this.starting) {
      const stillStarting = now - since < STARTING_HOLD_MAX_MS && !pastItsStart(this.builds.states.get(buildId));
      if (!stillStarting) this.starting.delete(buildId);
    }
    return this.starting.size;
  }

  /** One timer: the held-back top-up goes ahead when the oldest starting build's hold runs out. */
  private releaseHoldLater(now: number): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    const oldest = Math.min(...this.starting.values());
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.kick();
    }, Math.max(0, oldest + STARTING_HOLD_MAX_MS - now) + 5);
    this.holdTimer.unref();
  }

  private async provision(): Promise<void> {
    const workerId = newId();
    // a new id's subject is empty: decided on that, not on a read of it (the append still expects it empty)
    const none = { state: this.aggs.worker.decider.initialState(), lastSeq: 0 };
    await this.command(workerId, { type: 'ProvisionWorker', workerId, driver: this.driver.name, now: new Date().toISOString() }, workerId, false, none);
    this.lastSeen.set(workerId, Date.now());
    await this.driver.start(workerId);
    this.log.info('worker provisioned', { workerId, driver: this.driver.name });
  }

  /** Marks workers lost whose heartbeats stopped (or that never connected). */
  private async sweep(): Promise<void> {
    if (!this.leadership.isLeader) return;
    const now = Date.now();
    const limit = this.cfg.heartbeatMs * this.cfg.heartbeatMisses;
    for (const w of this.workers()) {
      if (w.status === 'retired' || w.status === 'lost') continue;
      const seen = this.lastSeen.get(w.workerId) ?? this.startedAt;
      const grace = w.status === 'provisioning' ? Math.max(limit, 30_000) : limit;
      if (now - seen > grace) {
        this.log.warn('worker lost: no heartbeat', { workerId: w.workerId, silentMs: now - seen });
        await this.command(w.workerId, { type: 'MarkLost', reason: `no heartbeat for ${Math.round((now - seen) / 1000)} s`, now: new Date().toISOString() }).catch(
          (e) => this.log.error('mark lost failed', { workerId: w.workerId, err: e as Error }),
        );
        await this.driver.stop(w.workerId);
      }
    }
  }

  private async agentExited(workerId: string, detail: string): Promise<void> {
    this.lastSeen.delete(workerId);
    if (this.stopping) return;
    const w = this.view.states.get(workerId);
    if (w && w.status !== 'none' && w.status !== 'retired' && w.status !== 'lost') {
      this.log.warn('agent exited before retiring', { workerId, detail });
      await this.command(workerId, { type: 'MarkLost', reason: detail, now: new Date().toISOString() }).catch(() => undefined);
    } else {
      this.log.info('agent exited', { workerId, detail });
    }
    this.kick();
  }

  private async command(workerId: string, command: WorkerCommand, correlationId = workerId, rethrow = false, known = this.view.known(workerId)): Promise<void> {
    try {
      await this.store.handle(this.aggs.worker, this.names.subjects.worker(workerId), command, { correlationId }, { known });
    } catch (e) {
      if (rethrow || !(e instanceof IllegalStateError)) throw e;
    }
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return null;
  }
}
