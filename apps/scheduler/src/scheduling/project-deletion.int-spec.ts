import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NatsConnection } from 'nats';
import { decodeLogChunk, kilnNames } from '@kiln/contracts';
import { aggregates, connectNats, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { eventually, testNamespace, testNatsUrl } from '@kiln/testing';
import { AppModule } from '../app.module';

const source = { repoUrl: '/tmp/none.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };

describe('scheduler: builds of a deleted project are cancelled, on real JetStream', () => {
  const savedEnv = { ...process.env };
  const namespace = testNamespace('sdel');
  const names = kilnNames(namespace);
  const aggs = aggregates(names);
  const now = () => new Date().toISOString();
  let nc: NatsConnection;
  let store: EventStore;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'scheduler-deletion-int-spec');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
  });

  afterAll(async () => {
    await app?.close();
    process.env = savedEnv;
    await deleteStreams(store.jsm, names);
    await nc.drain();
  });

  const build = async (buildId: string) => (await store.load(aggs.build, names.subjects.build(buildId))).state;

  async function project(projectId: string): Promise<void> {
    await store.handle(aggs.project, names.subjects.project(projectId), {
      type: 'CreateProject',
      data: { projectId, name: projectId, repoUrl: source.repoUrl, provider: 'github', webhookSecret: 'enc:v1:x', branches: null, concurrency: 4, createdAt: now() },
    }, { correlationId: projectId });
  }

  async function requested(buildId: string, projectId: string): Promise<void> {
    await store.handle(aggs.build, names.subjects.build(buildId), { type: 'RequestBuild', data: { buildId, projectId, trigger: 'manual', deliveryId: null, source, requestedAt: now() } }, { correlationId: buildId });
  }

  /** A build of the project running on a worker that stays alive (no agent here: it does not end it). */
  async function running(buildId: string, projectId: string, workerId: string): Promise<void> {
    const w = names.subjects.worker(workerId);
    const b = names.subjects.build(buildId);
    const cause = { correlationId: buildId };
    await store.handle(aggs.worker, w, { type: 'ProvisionWorker', workerId, driver: 'process', now: now() }, cause);
    await store.handle(aggs.worker, w, { type: 'ConnectWorker', hostname: 'h', pid: 1, protocolVersion: 1, now: now() }, cause);
    await store.handle(aggs.worker, w, { type: 'MarkWarm', checks: ['git'], now: now() }, cause);
    await requested(buildId, projectId);
    await store.handle(aggs.build, b, { type: 'QueueBuild', now: now() }, cause);
    await store.handle(aggs.worker, w, { type: 'LeaseWorker', job: { buildId, projectId, attempt: 1, source }, allowCold: false, now: now() }, cause);
    await store.handle(aggs.build, b, { type: 'AssignBuild', workerId, attempt: 1, now: now() }, cause);
    await store.handle(aggs.build, b, { type: 'StartBuild', workerId, attempt: 1, now: now() }, cause);
  }

  it('cancels its queued builds at once, asks its running one to stop, and cancels one requested after the deletion', async () => {
    await project('p-del');
    await project('p-keep');
    await running('b-run', 'p-del', 'w-1');
    await running('b-other', 'p-keep', 'w-2');
    process.env.NATS_URL = testNatsUrl();
    process.env.KILN_NAMESPACE = namespace;
    process.env.KILN_LOG_LEVEL = 'error';
    app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    // no pool answers here: the scheduler queues the new build and waits for a worker
    await requested('b-queued', 'p-del');
    await eventually(async () => ((await build('b-queued')).status === 'queued' ? true : undefined), 'b-queued to be queued');

    await store.handle(aggs.project, names.subjects.project('p-del'), { type: 'DeleteProject', projectId: 'p-del', now: now() }, { correlationId: 'p-del' });

    const queued = await eventually(async () => { const s = await build('b-queued'); return s.status === 'cancelled' ? s : undefined; }, 'b-queued to be cancelled');
    expect(queued.reason).toBe('project p-del was deleted');
    const last = await store.jsm.streams.getMessage(names.streams.logs, { last_by_subj: names.subjects.log('b-queued') });
    expect(decodeLogChunk(last.data)).toMatchObject({ kind: 'end', buildId: 'b-queued', status: 'cancelled' });
    const run = await eventually(async () => { const s = await build('b-run'); return s.status !== 'none' && s.cancelRequested ? s : undefined; }, 'b-run cancel request');
    expect(run.status).toBe('running'); // its worker stops it and reports cancelled

    // an ingest that had not seen the deletion yet requests one more build: it never runs
    await requested('b-late', 'p-del');
    const late = await eventually(async () => { const s = await build('b-late'); return s.status === 'cancelled' ? s : undefined; }, 'b-late to be cancelled');
    expect(late.reason).toBe('project p-del was deleted');

    const other = await build('b-other');
    expect(other.status === 'running' && !other.cancelRequested).toBe(true);
  });
});
