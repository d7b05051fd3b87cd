import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { decodeLogChunk } from '@kiln/contracts';
import { eventually, testNatsUrl } from '@kiln/testing';
import { givenRunningBuild, useJetStreamStore } from '@kiln/testing-jetstream';
import { AppModule } from '../app.module';

const source = { repoUrl: '/tmp/none.git', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: 'a', message: 'm' };

describe('scheduler: builds of a deleted project are cancelled, on real JetStream', () => {
  let app: INestApplication | undefined;
  // declared before useJetStreamStore: jest runs afterAll hooks in that order, so the app stops before its streams go
  afterAll(async () => {
    await app?.close();
  });
  const ns = useJetStreamStore({ namespacePrefix: 'sdel', clientName: 'scheduler-deletion-int-spec', restoreEnv: true });
  const { names, aggs } = ns;
  const now = () => new Date().toISOString();

  const build = async (buildId: string) => (await ns.store.load(aggs.build, names.subjects.build(buildId))).state;

  async function project(projectId: string): Promise<void> {
    await ns.store.handle(aggs.project, names.subjects.project(projectId), {
      type: 'CreateProject',
      data: { projectId, name: projectId, repoUrl: source.repoUrl, provider: 'github', webhookSecret: 'enc:v1:x', branches: null, concurrency: 4, createdAt: now() },
    }, { correlationId: projectId });
  }

  async function requested(buildId: string, projectId: string): Promise<void> {
    await ns.store.handle(aggs.build, names.subjects.build(buildId), { type: 'RequestBuild', data: { buildId, projectId, trigger: 'manual', deliveryId: null, source, requestedAt: now() } }, { correlationId: buildId });
  }

  /** A build of the project running on a worker that stays alive (no agent here: it does not end it). */
  const running = (buildId: string, projectId: string, workerId: string) => givenRunningBuild(ns, { buildId, projectId, workerId, source, leasedWorker: true });

  it('cancels its queued builds at once, asks its running one to stop, and cancels one requested after the deletion', async () => {
    await project('p-del');
    await project('p-keep');
    await running('b-run', 'p-del', 'w-1');
    await running('b-other', 'p-keep', 'w-2');
    process.env.NATS_URL = testNatsUrl();
    process.env.KILN_NAMESPACE = names.namespace;
    process.env.KILN_LOG_LEVEL = 'error';
    app = await NestFactory.create(AppModule, { logger: false });
    await app.init();
    // no pool answers here: the scheduler queues the new build and waits for a worker
    await requested('b-queued', 'p-del');
    await eventually(async () => ((await build('b-queued')).status === 'queued' ? true : undefined), 'b-queued to be queued');

    await ns.store.handle(aggs.project, names.subjects.project('p-del'), { type: 'DeleteProject', projectId: 'p-del', now: now() }, { correlationId: 'p-del' });

    const queued = await eventually(async () => { const s = await build('b-queued'); return s.status === 'cancelled' ? s : undefined; }, 'b-queued to be cancelled');
    expect(queued.reason).toBe('project p-del was deleted');
    const last = await ns.store.jsm.streams.getMessage(names.streams.logs, { last_by_subj: names.subjects.log('b-queued') });
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
