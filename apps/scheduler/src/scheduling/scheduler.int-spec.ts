import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { decodeLogChunk } from '@kiln/contracts';
import { eventually, testNatsUrl } from '@kiln/testing';
import { givenRunningBuild, useJetStreamStore } from '@kiln/testing-jetstream';
import { AppModule } from '../app.module';

const source = { repoUrl: '/tmp/none.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };

describe('scheduler timeout backstop on real JetStream', () => {
  let app: INestApplication | undefined;
  // declared before useJetStreamStore: jest runs afterAll hooks in that order, so the app stops before its streams go
  afterAll(async () => {
    await app?.close();
  });
  const ns = useJetStreamStore({ namespacePrefix: 'sch', clientName: 'scheduler-int-spec', restoreEnv: true });
  const { names, aggs } = ns;

  /** A worker leased to a build that started now and loaded a pipeline with `timeoutMs`. */
  async function runningBuild(buildId: string, workerId: string, timeoutMs: number): Promise<void> {
    await givenRunningBuild(ns, { buildId, projectId: 'p1', workerId, source, deliveryId: `d-${buildId}`, leasedWorker: true });
    await ns.store.handle(aggs.build, names.subjects.build(buildId), { type: 'LoadPipeline', attempt: 1, sha: 'abcdef1', steps: [{ name: 'hang' }], timeoutMs }, { correlationId: buildId });
  }

  it('times out a build its (hung) worker never ends, closes its log and retires the worker', async () => {
    // a short build whose agent never reports again, and a long one that must be left alone
    await runningBuild('b-hung', 'w-hung', 300);
    await runningBuild('b-long', 'w-long', 600_000);
    process.env.NATS_URL = testNatsUrl();
    process.env.KILN_NAMESPACE = names.namespace;
    process.env.KILN_LOG_LEVEL = 'error';
    process.env.KILN_BUILD_TIMEOUT_GRACE_MS = '200';
    app = await NestFactory.create(AppModule, { logger: false });
    await app.init();

    const hung = await eventually(
      async () => {
        const { state } = await ns.store.load(aggs.build, names.subjects.build('b-hung'));
        return state.status === 'timed_out' ? state : undefined;
      },
      'b-hung to time out',
      15_000,
    );
    expect(hung.reason).toBe('build exceeded its 300 ms timeout and worker w-hung did not end it within 200 ms; timed out by the scheduler');
    const worker = await eventually(
      async () => {
        const { state } = await ns.store.load(aggs.worker, names.subjects.worker('w-hung'));
        return state.status === 'retired' ? state : undefined;
      },
      'w-hung to be retired',
    );
    expect(worker.reason).toBe('build b-hung timed out and the worker did not end it');
    // the log got its end record, so watchers stop waiting
    const last = await ns.store.jsm.streams.getMessage(names.streams.logs, { last_by_subj: names.subjects.log('b-hung') });
    expect(decodeLogChunk(last.data)).toMatchObject({ kind: 'end', buildId: 'b-hung', attempt: 1, status: 'timed_out' });
    // the build with time left still runs on its worker
    const long = await ns.store.load(aggs.build, names.subjects.build('b-long'));
    expect(long.state.status).toBe('running');
    expect((await ns.store.load(aggs.worker, names.subjects.worker('w-long'))).state.status).toBe('leased');
  });

  it('asks the pool once per lease: the events of the lease it got do not make it ask again', async () => {
    expect(app).toBeDefined(); // started by the test above
    const buildId = 'b-once';
    const asked: string[] = [];
    const sub = ns.nc.subscribe(names.subjects.leaseRequest, {
      callback: (_e, m) => {
        const { job } = JSON.parse(Buffer.from(m.data).toString('utf8')) as { job: { buildId: string; projectId: string; attempt: number; source: typeof source } };
        asked.push(job.buildId);
        void (async () => {
          // as the pool does: the lease is recorded on the worker (which kicks the scheduler), then answered
          const w = names.subjects.worker('w-once');
          const now = new Date().toISOString();
          if (asked.length === 1) {
            await ns.store.handle(aggs.worker, w, { type: 'ProvisionWorker', workerId: 'w-once', driver: 'process', now }, { correlationId: buildId });
            await ns.store.handle(aggs.worker, w, { type: 'ConnectWorker', hostname: 'h', pid: 1, protocolVersion: 1, now }, { correlationId: buildId });
            await ns.store.handle(aggs.worker, w, { type: 'MarkWarm', checks: ['git'], now }, { correlationId: buildId });
            await ns.store.handle(aggs.worker, w, { type: 'LeaseWorker', job, allowCold: false, now }, { correlationId: buildId });
          }
          m.respond(Buffer.from(JSON.stringify({ ok: true, workerId: 'w-once' })));
        })();
      },
    });
    try {
      const now = new Date().toISOString();
      await ns.store.handle(aggs.build, names.subjects.build(buildId), { type: 'RequestBuild', data: { buildId, projectId: 'p2', trigger: 'manual', deliveryId: `d-${buildId}`, source, requestedAt: now } }, { correlationId: buildId });
      await eventually(async () => ((await ns.store.load(aggs.build, names.subjects.build(buildId))).state.status === 'assigned' ? true : undefined), 'b-once to be assigned');
      await new Promise((r) => setTimeout(r, 300)); // any second request would come now
      expect(asked.filter((id) => id === buildId)).toEqual([buildId]);
      const events = (await ns.store.load(aggs.build, names.subjects.build(buildId))).events.map((e) => e.type);
      expect(events).toEqual(['BuildRequested', 'BuildQueued', 'BuildAssigned']);
    } finally {
      sub.unsubscribe();
    }
  });
});
