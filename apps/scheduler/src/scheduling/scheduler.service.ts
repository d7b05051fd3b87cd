import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NatsConnection, JSONCodec, headers } from 'nats';
import { Attr, BuildEvent, IllegalStateError, KilnNames, LeaseReply, LeaseReplySchema, ProjectEvent, WorkerEvent } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { Build, BuildCommand, isFinal, Project, ProjectCommand, Worker, WorkerCommand } from '@kiln/domain';
import { AggregateView, Aggregates, endLogOf, EventStore } from '@kiln/event-store';
import { AGGREGATES, CoalescedRunner, CONFIG, LOGGER, NAMES, NATS, Readiness } from '@kiln/service-kit';
import { currentTraceparent, inSpan, Logger } from '@kiln/telemetry';
import { planScheduling, SchedulingAction } from './queue-policy';
import { DEFAULT_BUILD_TIMEOUT_MS } from '@kiln/pipeline';
import { backstopReason, OverdueBuild, planTimeouts } from './timeout-policy';

const json = JSONCodec();

/** A Map that forgets its oldest entries past `max`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }
  remember(k: K, v: V): void {
    this.delete(k);
    this.set(k, v);
    if (this.size > this.max) this.delete(this.keys().next().value as K);
  }
}

/**
 * The scheduler: keeps every build, worker and project in views read from the streams,
 * and after each change (never on a timer) runs the pure policy and carries out its
 * actions through the event store. Every action is idempotent and guarded by the
 * aggregates' optimistic concurrency, so replicas and restarts cannot double-assign.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly builds: AggregateView<Build, BuildCommand, BuildEvent>;
  private readonly workers: AggregateView<Worker, WorkerCommand, WorkerEvent>;
  private readonly projects: AggregateView<Project, ProjectCommand, ProjectEvent>;
  private live = false;
  private stopping = false;
  private readonly runner: CoalescedRunner;
  /** Workers that are gone (retired or lost), kept after their state is evicted. */
  private readonly gone = new BoundedMap<string, { status: 'retired' | 'lost'; reason: string | null }>(100_000);
  private retryTimer: NodeJS.Timeout | null = null;
  /** Fires when the next running build passes its timeout plus grace. */
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Overdue builds being timed out (not asked twice). */
  private readonly timingOut = new Set<string>();
  /** Superseded builds whose cancel is being recorded (not asked twice). */
  private readonly cancelling = new Set<string>();
  /** Lease requests in flight, by `<buildId>:<attempt>`. */
  private readonly inFlight = new Set<string>();
  /**
   * Builds this replica got a lease for (build id → attempt), until its view shows them
   * past queued: a reconcile in between (the lease's own events kick one) would otherwise
   * ask the pool again and append a second, no-op, assignment on the build's hot path.
   */
  private readonly granted = new Map<string, number>();
  private readonly log: Logger;

  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(NATS) private readonly nc: NatsConnection,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) log: Logger,
    readiness: Readiness,
  ) {
    this.log = log;
    this.runner = new CoalescedRunner(() => this.reconcile(), (e) => this.log.error('reconcile failed', { err: e as Error }));
    const onEvent = (_id: string, _s: unknown, _e: unknown, live: boolean) => {
      if (live) this.kick();
    };
    const onError = (e: unknown) => this.log.error('skipped malformed event', { reason: (e as Error).message });
    this.builds = new AggregateView(store, aggs.build, names.subjects.allBuilds, {
      onEvent: (id, b, e, live) => {
        if (this.granted.has(id) && (b.status !== 'queued' || b.attempt !== this.granted.get(id))) this.granted.delete(id);
        onEvent(id, b, e, live);
      },
      onError,
      evict: (b) => isFinal(b),
    });
    this.workers = new AggregateView(store, aggs.worker, names.subjects.allWorkers, {
      onEvent: (id, w, e, live) => {
        if (w.status === 'retired' || w.status === 'lost') this.gone.remember(id, { status: w.status, reason: w.reason });
        onEvent(id, w, e, live);
      },
      onError,
      evict: (w) => w.status === 'retired' || w.status === 'lost',
    });
    this.projects = new AggregateView(store, aggs.project, names.subjects.allProjects, { onEvent, onError });
    readiness.register('views', () => {
      if (!this.live) throw new Error('replaying streams');
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await Promise.all([this.projects.start(), this.workers.start(), this.builds.start()]);
    this.live = true;
    this.log.info('scheduler views loaded', { builds: this.builds.states.size, workers: this.workers.states.size });
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    await this.runner.stop();
    await Promise.all([this.builds.stop(), this.workers.stop(), this.projects.stop()]);
  }

  /** Coalesces bursts of events into one reconcile run at a time. */
  kick(): void {
    if (this.live && !this.stopping) this.runner.kick();
  }

  private async reconcile(): Promise<void> {
    const limits = new Map<string, number>();
    const autoCancel = new Set<string>();
    const deletedProjects = new Set<string>();
    for (const p of this.projects.states.values()) {
      if (p.status === 'deleted') deletedProjects.add(p.projectId);
      if (p.status !== 'active') continue;
      limits.set(p.projectId, p.concurrency);
      if (p.autoCancel) autoCancel.add(p.projectId);
    }
    const builds = [...this.builds.states.values()].filter((b): b is Exclude<Build, { status: 'none' }> => b.status !== 'none');
    const actions = planScheduling({ builds, limits, defaultLimit: this.cfg.projectConcurrency, workerGone: (id) => this.gone.get(id) ?? null, autoCancel, deletedProjects });
    const timeouts = planTimeouts({ builds, now: Date.now(), defaultTimeoutMs: DEFAULT_BUILD_TIMEOUT_MS, graceMs: this.cfg.buildTimeoutGraceMs });
    this.armDeadline(timeouts.nextDeadline);
    // queue, requeue and time out first (cheap, independent), then leases in policy order
    await Promise.all([...actions.filter((a) => a.kind !== 'lease').map((a) => this.act(a)), ...timeouts.overdue.map((o) => this.timeOut(o))]);
    // a projects view change (auto-cancel switched on) matters too
    for (const a of actions) {
      if (a.kind !== 'lease') continue;
      const ok = await this.act(a);
      if (!ok) {
        // no worker now: the next worker event kicks us again; one timer backs that up
        // in case the event came before the pool's view had it
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.kick();
        }, 1000);
        break;
      }
    }
  }

  /** One timer for the earliest deadline of a running build (re-armed on every reconcile). */
  private armDeadline(at: number | null): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    if (at === null || this.stopping) return;
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = null;
        this.kick();
      },
      Math.min(Math.max(0, at - Date.now()) + 5, 2 ** 31 - 1),
    );
    this.deadlineTimer.unref();
  }

  /**
   * The backstop: a build still running past its timeout plus grace is recorded
   * `timed_out` (fenced by its attempt, so a worker that did end it wins), its log is
   * closed, and its worker retired, which makes the pool stop the agent's process group.
   */
  private timeOut(o: OverdueBuild): Promise<void> {
    if (this.timingOut.has(o.buildId)) return Promise.resolve();
    this.timingOut.add(o.buildId);
    return inSpan('scheduler.timeout', { [Attr.buildId]: o.buildId }, async () => {
      const now = new Date().toISOString();
      const reason = backstopReason(o, this.cfg.buildTimeoutGraceMs);
      try {
        this.log.warn('build timed out without its worker ending it', { buildId: o.buildId, attempt: o.attempt, workerId: o.workerId });
        const r = await this.store.handle(
          this.aggs.build,
          this.names.subjects.build(o.buildId),
          { type: 'FinishBuild', attempt: o.attempt, outcome: 'timed_out', reason, exitCode: null, now },
          { correlationId: o.buildId, causationId: 'scheduler:timeout' },
          { known: this.builds.known(o.buildId) },
        );
        if (r.state.status === 'timed_out') await endLogOf(this.store.js, this.names, o.buildId, o.attempt, 'timed_out');
        if (o.workerId) {
          await this.store
            .handle(this.aggs.worker, this.names.subjects.worker(o.workerId), { type: 'RetireWorker', reason: `build ${o.buildId} timed out and the worker did not end it`, now }, { correlationId: o.buildId })
            .catch((e: unknown) => {
              if (!(e instanceof IllegalStateError)) throw e;
            });
        }
      } catch (e) {
        if (e instanceof IllegalStateError) this.log.debug('timeout no longer applies', { buildId: o.buildId, reason: e.message });
        else this.log.error('timing out a build failed', { buildId: o.buildId, err: e as Error });
      } finally {
        this.timingOut.delete(o.buildId);
      }
    }, { parent: this.builds.traces.get(o.buildId) });
  }

  /** Carries out one action inside the build's trace; false when a lease could not be had. */
  private act(a: SchedulingAction): Promise<boolean> {
    const buildId = a.kind === 'lease' ? a.build.buildId : a.buildId;
    if (a.kind === 'cancel' && this.cancelling.has(buildId)) return Promise.resolve(true);
    return inSpan(`scheduler.${a.kind}`, { [Attr.buildId]: buildId }, () => this.actNow(a), { parent: this.builds.traces.get(buildId) });
  }

  private async actNow(a: SchedulingAction): Promise<boolean> {
    const now = new Date().toISOString();
    try {
      switch (a.kind) {
        case 'queue': {
          const r = await this.store.handle(this.aggs.build, this.names.subjects.build(a.buildId), { type: 'QueueBuild', now }, { correlationId: a.buildId }, { known: this.builds.known(a.buildId) });
          // the lease is planned on the queued state at once, not when BuildQueued comes back through the view (~5 ms)
          this.builds.applyOwn(a.buildId, r.state, r.lastSeq);
          this.kick();
          return true;
        }
        case 'requeue': {
          this.log.warn('requeueing build', { buildId: a.buildId, attempt: a.attempt, reason: a.reason });
          const r = await this.store.handle(
            this.aggs.build,
            this.names.subjects.build(a.buildId),
            { type: 'RequeueBuild', attempt: a.attempt, reason: a.reason, maxAttempts: this.cfg.maxAttempts, now },
            { correlationId: a.buildId },
            { known: this.builds.known(a.buildId) },
          );
          // the build ended here (out of attempts, or cancelled meanwhile): close its log
          if (r.state.status === 'failed' || r.state.status === 'cancelled') await endLogOf(this.store.js, this.names, a.buildId, r.state.attempt, r.state.status);
          return true;
        }
        case 'lease':
          return await this.lease(a.build);
        case 'cancel': {
          this.cancelling.add(a.buildId);
          try {
            this.log.info('cancelling build', { buildId: a.buildId, reason: a.reason });
            const r = await this.store.handle(this.aggs.build, this.names.subjects.build(a.buildId), { type: 'CancelBuild', reason: a.reason, now }, { correlationId: a.buildId }, { known: this.builds.known(a.buildId) });
            if (r.state.status === 'cancelled') await endLogOf(this.store.js, this.names, a.buildId, r.state.attempt, 'cancelled');
          } finally {
            this.cancelling.delete(a.buildId);
          }
          return true;
        }
      }
    } catch (e) {
      if (e instanceof IllegalStateError) {
        this.log.debug('action no longer applies', { action: a.kind, reason: e.message });
        return true;
      }
      this.log.error('scheduling action failed', { action: a.kind, err: e as Error });
      return false;
    }
  }

  private async lease(b: Exclude<Build, { status: 'none' }>): Promise<boolean> {
    const key = `${b.buildId}:${b.attempt}`;
    if (this.inFlight.has(key) || this.granted.get(b.buildId) === b.attempt) return true;
    this.inFlight.add(key);
    try {
      const job = { buildId: b.buildId, projectId: b.projectId, attempt: b.attempt, source: b.source };
      const h = headers();
      const tp = currentTraceparent();
      if (tp) h.set('traceparent', tp);
      const msg = await this.nc.request(this.names.subjects.leaseRequest, json.encode({ job }), { timeout: 5000, headers: h });
      const reply: LeaseReply = LeaseReplySchema.parse(json.decode(msg.data));
      if (!reply.ok) {
        this.log.debug('no worker for build yet', { buildId: b.buildId, reason: reply.reason });
        return false;
      }
      this.granted.set(b.buildId, b.attempt);
      await this.store.handle(
        this.aggs.build,
        this.names.subjects.build(b.buildId),
        { type: 'AssignBuild', workerId: reply.workerId, attempt: b.attempt, now: new Date().toISOString() },
        { correlationId: b.buildId },
        { known: this.builds.known(b.buildId) },
      );
      this.log.info('build assigned', { buildId: b.buildId, workerId: reply.workerId, attempt: b.attempt });
      return true;
    } catch (e) {
      if (e instanceof IllegalStateError) return true;
      this.granted.delete(b.buildId);
      this.log.warn('lease request failed', { buildId: b.buildId, err: e as Error });
      return false;
    } finally {
      this.inFlight.delete(key);
    }
  }
}
