import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { BuildEvent, buildCodec, EventCodec, ProjectEvent, projectCodec, Recorded, WorkerEvent, workerCodec } from '@kiln/contracts';
import { buildDecider, fold } from '@kiln/domain';
import { checkpointOf, dropSchema } from '@kiln/persistence';
import { testDatabaseUrl, testNamespace } from '@kiln/testing';
import { KilnConfig } from '@kiln/config';
import { BuildRow, ProjectRow, WorkerRow } from './entities';
import { Projections, ReadModelProjections } from './projections';
import { openReadDb } from './read-db';

const T0 = '2024-05-14T09:30:00.000Z';
const T1 = '2024-05-14T09:30:01.250Z';
const T2 = '2024-05-14T09:31:12.015Z';
const P = 'proj-web';

const source = { repoUrl: 'https://github.com/acme/web.git', ref: 'refs/heads/main', sha: null, branch: 'main', author: 'Ada', message: 'Fix flaky test' };
const job = (buildId: string) => ({ buildId, projectId: P, attempt: 1, source });

/** One build from request to success, on worker `w`. */
function buildRun(b: string, w: string): BuildEvent[] {
  return [
    { type: 'BuildRequested', data: { buildId: b, projectId: P, trigger: 'push', deliveryId: null, source, requestedAt: T0 } },
    { type: 'BuildQueued', data: { buildId: b, projectId: P, attempt: 1, queuedAt: T0 } },
    { type: 'BuildAssigned', data: { buildId: b, workerId: w, attempt: 1, assignedAt: T1 } },
    { type: 'BuildStarted', data: { buildId: b, workerId: w, attempt: 1, startedAt: T1 } },
    { type: 'PipelineLoaded', data: { buildId: b, attempt: 1, sha: 'abcdef1', steps: [{ name: 'install' }, { name: 'test' }] } },
    { type: 'StepStarted', data: { buildId: b, attempt: 1, index: 0, name: 'install', startedAt: T1 } },
    { type: 'StepFinished', data: { buildId: b, attempt: 1, index: 0, name: 'install', outcome: 'succeeded', exitCode: 0, finishedAt: T1, durationMs: 40 } },
    { type: 'StepStarted', data: { buildId: b, attempt: 1, index: 1, name: 'test', startedAt: T1 } },
    { type: 'StepFinished', data: { buildId: b, attempt: 1, index: 1, name: 'test', outcome: 'succeeded', exitCode: 0, finishedAt: T2, durationMs: 70 } },
    { type: 'BuildSucceeded', data: { buildId: b, attempt: 1, finishedAt: T2 } },
  ];
}

function workerLife(w: string, b: string): WorkerEvent[] {
  return [
    { type: 'WorkerProvisioning', data: { workerId: w, driver: 'docker', provisionedAt: T0 } },
    { type: 'WorkerConnected', data: { workerId: w, hostname: 'agent-1', pid: 41, protocolVersion: 1, connectedAt: T0 } },
    { type: 'WorkerWarm', data: { workerId: w, warmAt: T0, checks: ['docker'] } },
    { type: 'WorkerLeased', data: { workerId: w, job: job(b), leasedAt: T1 } },
    { type: 'WorkerRetired', data: { workerId: w, reason: 'build finished', retiredAt: T2 } },
  ];
}

/** A stream: the events with consecutive sequences, as the consumer decodes them. */
function stream<E extends { type: string; data: unknown }>(codec: EventCodec<E>, events: E[], at = T2): Recorded<E>[] {
  return events.map((e, i) =>
    codec.decodeEnvelope({ type: e.type, version: codec.validate(e).version, data: e.data, meta: { eventId: `ev-${i + 1}`, correlationId: 'c', occurredAt: at } }, i + 1, 'subject'),
  );
}

/** Two builds whose events interleave, as they do on the builds stream. */
const builds = (() => {
  const a = buildRun('b_aaa', 'w_1');
  const b = buildRun('b_bbb', 'w_2');
  return stream(buildCodec, a.flatMap((e, i) => [e, b[i]]));
})();
const workers = stream(workerCodec, [...workerLife('w_1', 'b_aaa'), ...workerLife('w_2', 'b_bbb').slice(0, 4)]);
const projects = stream(projectCodec, [
  { type: 'ProjectCreated', data: { projectId: P, name: 'web', repoUrl: source.repoUrl, provider: 'github', webhookSecret: 'enc:v1:x', branches: ['main'], concurrency: 2, createdAt: T0 } },
  { type: 'ProjectCreated', data: { projectId: 'proj-gone', name: 'gone', repoUrl: '/r', provider: 'gitlab', webhookSecret: 'enc:v1:y', branches: null, concurrency: 1, createdAt: T1 } },
  { type: 'ProjectSettingsChanged', data: { projectId: P, autoCancel: true, changedAt: T1 } },
  { type: 'ProjectSettingsChanged', data: { projectId: P, branches: null, concurrency: 4, changedAt: T1 } },
  { type: 'ProjectDeleted', data: { projectId: 'proj-gone', deletedAt: T2 } },
] as ProjectEvent[]);

describe('the api read model projections, on real PostgreSQL', () => {
  const namespace = testNamespace('rm');
  const cfg = { databaseUrl: testDatabaseUrl(), namespace } as KilnConfig;
  let ds: DataSource;
  let projections: ReadModelProjections;

  async function deliver(p: ReadModelProjections, events: { b?: Recorded<BuildEvent>[]; w?: Recorded<WorkerEvent>[]; p?: Recorded<ProjectEvent>[] }): Promise<void> {
    for (const e of events.p ?? []) await p.project(e);
    for (const e of events.b ?? []) await p.build(e);
    for (const e of events.w ?? []) await p.worker(e);
  }
  const all = { b: builds, w: workers, p: projects };

  /** Every row of the read model, checkpoints included. */
  async function snapshot(d = ds) {
    const s = `"${namespace}"`;
    return {
      builds: await d.query(`SELECT * FROM ${s}.builds ORDER BY id`),
      workers: await d.query(`SELECT * FROM ${s}.workers ORDER BY id`),
      projects: await d.query(`SELECT * FROM ${s}.projects ORDER BY id`),
      checkpoints: await d.query(`SELECT * FROM ${s}.projection_checkpoints ORDER BY name`),
    };
  }

  async function reset(): Promise<void> {
    await ds?.destroy();
    await dropSchema(testDatabaseUrl(), namespace);
    ds = await openReadDb(cfg);
    projections = new ReadModelProjections(ds);
  }

  beforeEach(reset);

  afterAll(async () => {
    await ds?.destroy();
    await dropSchema(testDatabaseUrl(), namespace);
  });

  it('folds a build’s events into its row, as the API reads it', async () => {
    const ofA = builds.filter((e) => e.data.buildId === 'b_aaa');
    await projections.build(ofA[0]);
    expect(await ds.getRepository(BuildRow).findOneByOrFail({ id: 'b_aaa' })).toMatchObject({ status: 'queued', lastSeq: ofA[0].seq }); // 'requested' lists as queued

    await deliver(projections, { b: builds });
    expect(await ds.getRepository(BuildRow).findOneByOrFail({ id: 'b_aaa' })).toEqual({
      id: 'b_aaa',
      projectId: P,
      status: 'succeeded',
      branch: 'main',
      requestedAt: new Date(T0),
      state: fold(buildDecider, ofA),
      lastSeq: ofA[ofA.length - 1].seq,
    });
    expect(await ds.getRepository(BuildRow).count()).toBe(2);
    expect(await checkpointOf(ds, Projections.builds)).toBe(builds.length);
  });

  it('a redelivered or late event changes nothing: a build does not go back to assigned', async () => {
    await deliver(projections, { b: builds.slice(0, 10) });
    const before = await snapshot();
    const assignedA = builds.find((e) => e.type === 'BuildAssigned' && e.data.buildId === 'b_aaa')!;
    await projections.build(assignedA); // at or below the checkpoint
    await projections.build(builds[9]); // the last one again
    expect(await snapshot()).toEqual(before);
    expect((await ds.getRepository(BuildRow).findOneByOrFail({ id: 'b_aaa' })).status).toBe('running');
  });

  it('replaying every stream from the start changes nothing', async () => {
    await deliver(projections, all);
    const before = await snapshot();
    await deliver(projections, all);
    expect(await snapshot()).toEqual(before);
  });

  it('workers: status, driver, reason, and the build a worker ran kept after it retired; events of an unknown worker make no row', async () => {
    await projections.worker(stream(workerCodec, [{ type: 'WorkerConnected', data: { workerId: 'w_ghost', hostname: 'h', pid: 1, protocolVersion: 1, connectedAt: T0 } }])[0]);
    expect(await ds.getRepository(WorkerRow).count()).toBe(0);
    expect(await checkpointOf(ds, Projections.workers)).toBe(1);

    await reset();
    await deliver(projections, { w: workers });
    const rows = await ds.getRepository(WorkerRow).find({ order: { id: 'ASC' } });
    expect(rows).toEqual([
      { id: 'w_1', status: 'retired', driver: 'docker', buildId: 'b_aaa', reason: 'build finished', updatedAt: new Date(T2) },
      { id: 'w_2', status: 'leased', driver: 'docker', buildId: 'b_bbb', reason: null, updatedAt: new Date(T2) },
    ]);
  });

  it('projects: created, settings changed field by field (null branches stay SQL NULL), deleted', async () => {
    await deliver(projections, { p: projects.slice(0, 2) });
    expect(await ds.getRepository(ProjectRow).findOneByOrFail({ id: P })).toEqual({
      id: P,
      name: 'web',
      repoUrl: source.repoUrl,
      provider: 'github',
      branches: ['main'],
      concurrency: 2,
      autoCancel: false,
      createdAt: new Date(T0),
    });
    await projections.project(projects[2]);
    expect(await ds.getRepository(ProjectRow).findOneByOrFail({ id: P })).toMatchObject({ branches: ['main'], concurrency: 2, autoCancel: true });
    await projections.project(projects[3]);
    expect(await ds.getRepository(ProjectRow).findOneByOrFail({ id: P })).toMatchObject({ branches: null, concurrency: 4, autoCancel: true });
    const [{ isNull }] = await ds.query(`SELECT branches IS NULL AS "isNull" FROM "${namespace}".projects WHERE id = $1`, [P]);
    expect(isNull).toBe(true);
    await projections.project(projects[4]);
    expect((await ds.getRepository(ProjectRow).find()).map((p) => p.id)).toEqual([P]);
  });

  it('drop the read model and rebuild it from the streams → identical rows', async () => {
    await deliver(projections, all);
    const before = await snapshot();
    await reset();
    expect((await snapshot()).builds).toEqual([]);
    await deliver(projections, all);
    expect(await snapshot()).toEqual(before);
  });

  it('two replicas handed the same events at once (a redelivery race) write what one would', async () => {
    await deliver(projections, all);
    const expected = await snapshot();
    await reset();
    const other = await openReadDb(cfg);
    try {
      const replicas = [projections, new ReadModelProjections(other)];
      for (const e of projects) await Promise.all(replicas.map((r) => r.project(e)));
      for (const e of builds) await Promise.all(replicas.map((r) => r.build(e)));
      for (const e of workers) await Promise.all(replicas.map((r) => r.worker(e)));
      expect(await snapshot()).toEqual(expected);
    } finally {
      await other.destroy();
    }
  });
});
