import { NatsConnection } from 'nats';
import { ConcurrencyError, kilnNames, IllegalStateError } from '@kiln/contracts';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { connectNats } from './connection';
import { deleteStreams, ensureStreams, kvStream, objectStoreStream } from './streams';
import { EventStore } from './event-store';
import { aggregates } from './aggregates';
import { follow } from './follow';
import { AggregateView } from './aggregate-view';
import { orderedConsumerFastPath } from './ordered-consumer';
import { GETS_BEFORE_CONSUMER } from './read';

describe('EventStore on real JetStream', () => {
  const names = kilnNames(testNamespace('es'));
  const aggs = aggregates(names);
  let nc: NatsConnection;
  let store: EventStore;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'event-store-test');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
  });
  afterAll(async () => {
    await deleteStreams(store.jsm, names);
    await nc.drain();
  });

  const requested = (buildId: string) => ({
    type: 'BuildRequested' as const,
    data: {
      buildId,
      projectId: 'p1',
      trigger: 'push' as const,
      deliveryId: 'd1',
      source: { repoUrl: '/tmp/r.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' },
      requestedAt: '2026-01-01T00:00:00.000Z',
    },
  });

  it('builds ordered consumers without asking for the stream info first', async () => {
    // a nats.js upgrade that moves its internals would silently cost a round trip per read: say so
    expect(orderedConsumerFastPath(store.js)).toBe(true);
    const subject = names.subjects.build('b-ordered');
    await store.append(aggs.build.codec, subject, [requested('b-ordered')], { correlationId: 'c', expectedLastSeq: 0 });
    const loaded = await store.load(aggs.build, subject);
    expect(loaded.events.map((e) => e.type)).toEqual(['BuildRequested']);
    expect(loaded.state).toMatchObject({ status: 'requested', buildId: 'b-ordered' });
  });

  it("loads a small and a large aggregate whole and in order, past other subjects' events between its own", async () => {
    // 3 events are read by gets alone; 40 by gets and then an ordered consumer from the next sequence
    expect(GETS_BEFORE_CONSUMER).toBeGreaterThanOrEqual(3);
    expect(GETS_BEFORE_CONSUMER).toBeLessThan(40);
    const created = (projectId: string) => ({
      type: 'ProjectCreated' as const,
      data: { projectId, name: projectId, repoUrl: '/tmp/r.git', provider: 'github' as const, webhookSecret: 'enc:v1:x', branches: null, concurrency: 1, createdAt: 't' },
    });
    const secretSet = (projectId: string, name: string) => ({ type: 'ProjectSecretSet' as const, data: { projectId, name, value: 'enc:v1:x', setAt: 't' } });
    for (const n of [3, 40]) {
      const projectId = `p-read-${n}`;
      const subject = names.subjects.project(projectId);
      const seqs: number[] = [];
      for (let i = 0; i < n; i++) {
        // other subjects' events before each of this one's, but for the first after the gets:
        // a consumer that started one message late would miss it
        const others = i === GETS_BEFORE_CONSUMER ? [] : ['a', 'b'];
        for (const other of others) {
          await store.append(aggs.project.codec, names.subjects.project(`${projectId}-${other}`), [secretSet(`${projectId}-${other}`, `S${i}`)], { correlationId: 'c', expectedLastSeq: null });
        }
        const event = i === 0 ? created(projectId) : secretSet(projectId, `S${i}`);
        seqs.push((await store.append(aggs.project.codec, subject, [event], { correlationId: 'c', expectedLastSeq: null })).seq);
      }
      await store.append(aggs.project.codec, names.subjects.project(`${projectId}-a`), [secretSet(`${projectId}-a`, 'LAST')], { correlationId: 'c', expectedLastSeq: null });
      const loaded = await store.load(aggs.project, subject);
      expect(loaded.events.map((e) => e.seq)).toEqual(seqs);
      expect(loaded.events.map((e) => (e.type === 'ProjectSecretSet' ? e.data.name : e.type))).toEqual(['ProjectCreated', ...Array.from({ length: n - 1 }, (_, i) => `S${i + 1}`)]);
      expect(loaded.lastSeq).toBe(seqs[n - 1]);
    }
  });

  it('rejects a stale expected last-subject-sequence', async () => {
    const subject = names.subjects.build('b-stale');
    const { seq } = await store.append(aggs.build.codec, subject, [requested('b-stale')], { correlationId: 'c', expectedLastSeq: 0 });
    expect(seq).toBeGreaterThan(0);
    await expect(
      store.append(aggs.build.codec, subject, [requested('b-stale')], { correlationId: 'c', expectedLastSeq: 0 }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('drops a duplicate Msg-Id', async () => {
    const subject = names.subjects.build('b-dup');
    const a = await store.append(aggs.build.codec, subject, [requested('b-dup')], { correlationId: 'c', commandId: 'same', expectedLastSeq: null });
    const b = await store.append(aggs.build.codec, subject, [requested('b-dup')], { correlationId: 'c', commandId: 'same', expectedLastSeq: null });
    expect(b.seq).toBe(a.seq);
    expect(a.duplicate).toBe(false);
    expect(b.duplicate).toBe(true);
    const loaded = await store.load(aggs.build, subject);
    expect(loaded.events).toHaveLength(1);
  });

  it('rebuilds an aggregate from its subject and handles commands with retries on conflict', async () => {
    const subject = names.subjects.build('b-fold');
    const cause = { correlationId: 'b-fold' };
    await store.handle(aggs.build, subject, { type: 'RequestBuild', data: requested('b-fold').data }, cause);
    await store.handle(aggs.build, subject, { type: 'QueueBuild', now: '2026-01-01T00:00:01.000Z' }, cause);
    // a second store instance has no cache: it must rebuild from the stream
    const other = await EventStore.create(nc, names);
    const loaded = await other.load(aggs.build, subject);
    expect(loaded.events.map((e) => e.type)).toEqual(['BuildRequested', 'BuildQueued']);
    expect(loaded.state.status).toBe('queued');
    // the first store's cache is now stale after the other writes: it must retry, not fail
    await other.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w1', attempt: 1, now: 'x' }, cause);
    const r = await store.handle(aggs.build, subject, { type: 'StartBuild', workerId: 'w1', attempt: 1, now: 'y' }, cause);
    expect(r.state.status).toBe('running');
    const final = await other.load(aggs.build, subject);
    expect(final.events.map((e) => e.type)).toEqual(['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted']);
    // and a rule of the domain still holds
    await expect(
      store.handle(aggs.build, subject, { type: 'StartBuild', workerId: 'w2', attempt: 1, now: 'z' }, cause),
    ).rejects.toBeInstanceOf(IllegalStateError);
  });

  it('two concurrent writers on one aggregate: both commands land once each, in some order', async () => {
    const subject = names.subjects.build('b-race');
    const cause = { correlationId: 'b-race' };
    await store.handle(aggs.build, subject, { type: 'RequestBuild', data: requested('b-race').data }, cause);
    await store.handle(aggs.build, subject, { type: 'QueueBuild', now: 't' }, cause);
    const s1 = await EventStore.create(nc, names);
    const s2 = await EventStore.create(nc, names);
    const results = await Promise.allSettled([
      s1.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w1', attempt: 1, now: 't' }, cause),
      s2.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w2', attempt: 1, now: 't' }, cause),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    const loaded = await store.load(aggs.build, subject);
    expect(loaded.events.filter((e) => e.type === 'BuildAssigned')).toHaveLength(1);
  });

  it('follows a stream: replays history, reports catch-up, then delivers new events live', async () => {
    const seen: string[] = [];
    let caught = -1;
    const f = await follow(store.js, store.jsm, {
      stream: names.streams.builds,
      filter: names.subjects.allBuilds,
      onMessage: (m) => {
        seen.push(m.subject);
      },
      onCaughtUp: () => {
        caught = seen.length;
      },
    });
    await f.caughtUp;
    expect(caught).toBeGreaterThan(0);
    await store.append(aggs.build.codec, names.subjects.build('b-live'), [requested('b-live')], { correlationId: 'c', expectedLastSeq: 0 });
    const deadline = Date.now() + 5000;
    while (!seen.includes(names.subjects.build('b-live')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await f.stop();
    expect(seen).toContain(names.subjects.build('b-live'));
  });

  it("a view applies its process's own write at once, and does not apply it again when the stream delivers it", async () => {
    const id = 'b-own';
    const subject = names.subjects.build(id);
    const seen: string[] = [];
    const view = new AggregateView(store, aggs.build, subject, { onEvent: (_id, _s, e) => seen.push(e.type) });
    await view.start();
    try {
      await store.append(aggs.build.codec, subject, [requested(id)], { correlationId: 'c', expectedLastSeq: 0 });
      expect(await view.waitForSeq((await store.load(aggs.build, subject)).lastSeq, 5000)).toBe(true);
      // the write's state as handle returns it, applied before the stream can deliver the event
      // (the sequence is known ahead here: nothing else writes to this test's stream meanwhile)
      const before = view.known(id)!;
      const [queued] = aggs.build.decider.decide({ type: 'QueueBuild', now: '2026-01-01T00:00:01.000Z' }, before.state);
      const state = aggs.build.decider.evolve(before.state, { ...queued, meta: {} } as never);
      const seq = (await store.jsm.streams.info(names.streams.builds)).state.last_seq + 1;
      view.applyOwn(id, state, seq);
      expect(view.states.get(id)).toMatchObject({ status: 'queued' });
      expect(view.known(id)?.lastSeq).toBe(seq);
      const r = await store.append(aggs.build.codec, subject, [queued], { correlationId: 'c', expectedLastSeq: before.lastSeq });
      expect(r.seq).toBe(seq);
      // an older state (a late answer) does not overwrite a newer one
      view.applyOwn(id, before.state, seq - 1);
      expect(view.states.get(id)).toMatchObject({ status: 'queued' });
      // the delivered BuildQueued is skipped (no hook, no second evolve); a later event by another writer is applied
      const c = await store.handle(aggs.build, subject, { type: 'CancelBuild', reason: 'test', now: '2026-01-01T00:00:02.000Z' }, { correlationId: 'c' });
      expect(await view.waitForSeq(c.lastSeq, 5000)).toBe(true);
      expect(seen).toEqual(['BuildRequested', 'BuildCancelled']);
      expect(view.states.get(id)).toMatchObject({ status: 'cancelled' });
    } finally {
      await view.stop();
    }
  });

  it("deletes a namespace's streams and every bucket of it, KV and object store", async () => {
    const other = kilnNames(testNamespace('esdel'));
    await ensureStreams(store.jsm, other);
    await store.js.views.kv(other.buckets.apiTokens, { history: 1 });
    await store.js.views.os(other.buckets.cache);
    const exists = (name: string) => store.jsm.streams.info(name).then(() => true, () => false);
    expect(await exists(kvStream(other.buckets.apiTokens))).toBe(true);
    expect(await exists(objectStoreStream(other.buckets.cache))).toBe(true);
    await deleteStreams(store.jsm, other);
    for (const name of [other.streams.builds, kvStream(other.buckets.apiTokens), objectStoreStream(other.buckets.cache)]) expect(await exists(name)).toBe(false);
  });

  it('leaves no consumer on the server after a read or a follow ends', async () => {
    const consumers = async () => (await store.jsm.consumers.list(names.streams.builds).next()).length;
    const settled = async (want: number) => {
      // the delete is sent without waiting for its answer
      for (let k = 0; k < 100 && (await consumers()) !== want; k++) await new Promise((r) => setTimeout(r, 20));
      return consumers();
    };
    const before = await settled(await consumers());
    const subject = names.subjects.build('b-many');
    // more events than the gets read: the rest come through an ordered consumer
    const events = Array.from({ length: GETS_BEFORE_CONSUMER + 3 }, () => requested('b-many'));
    await store.append(aggs.build.codec, subject, events, { correlationId: 'c', expectedLastSeq: null });
    expect((await store.load(aggs.build, subject)).events).toHaveLength(GETS_BEFORE_CONSUMER + 3);
    const f = await follow(store.js, store.jsm, { stream: names.streams.builds, filter: subject, onMessage: () => undefined });
    await f.caughtUp;
    await f.stop();
    // nats.js alone would leave both for 5 minutes
    expect(await settled(before)).toBe(before);
  });
});

describe('EventStore cache never turns stale state into a wrong rejection', () => {
  const names = kilnNames(testNamespace('esc'));
  const aggs = aggregates(names);
  let nc: NatsConnection;
  afterAll(async () => {
    const jsm = await nc.jetstreamManager();
    await deleteStreams(jsm, names);
    await nc.drain();
  });

  it('re-decides on fresh state when cached state rejects the command', async () => {
    nc = await connectNats(testNatsUrl(), 'event-store-cache-test');
    const pool = await EventStore.create(nc, names);
    const agent = await EventStore.create(nc, names);
    await ensureStreams(pool.jsm, names);
    const subject = names.subjects.worker('w-cache');
    const c = { correlationId: 'w-cache' };
    await pool.handle(aggs.worker, subject, { type: 'ProvisionWorker', workerId: 'w-cache', driver: 'process', now: 't0' }, c);
    await agent.handle(aggs.worker, subject, { type: 'ConnectWorker', hostname: 'h', pid: 1, protocolVersion: 1, now: 't1' }, c);
    await agent.handle(aggs.worker, subject, { type: 'MarkWarm', checks: [], now: 't2' }, c);
    // the pool's cache still says "provisioning", where a lease is illegal
    const job = {
      buildId: 'b1',
      projectId: 'p1',
      attempt: 1,
      source: { repoUrl: '/r', ref: 'refs/heads/main', sha: null, branch: 'main', author: null, message: null },
    };
    const r = await pool.handle(aggs.worker, subject, { type: 'LeaseWorker', job, allowCold: false, now: 't3' }, c);
    expect(r.state.status).toBe('leased');
    expect(r.appended.map((e) => e.type)).toEqual(['WorkerLeased']);
  });
});
