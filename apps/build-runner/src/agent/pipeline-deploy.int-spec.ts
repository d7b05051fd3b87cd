import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { kilnNames, LeaseJob, newId } from '@kiln/contracts';
import { aggregates, connectNats, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { gitIn, testNamespace, testNatsUrl } from '@kiln/testing';
import { JobRunner } from './job-runner';

const git = gitIn;

const STEPS = ['steps:', '  - name: test', '    run: "true"'];

/**
 * `PipelineLoaded` says whether the pipeline deploys, read from the `.kiln.yml` the agent already
 * has, so the deployer can skip a build without fetching its commit.
 */
describe('JobRunner: whether the pipeline deploys, on real NATS and git', () => {
  const names = kilnNames(testNamespace('jobd'));
  const aggs = aggregates(names);
  const log = new Logger('pipeline-deploy-test', {}, 'error');
  let nc: NatsConnection;
  let store: EventStore;
  let root: string;
  let remote: string;
  let work: string;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'pipeline-deploy-test');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
    root = await mkdtemp(join(tmpdir(), 'kiln-jobd-'));
    remote = join(root, 'remote.git');
    work = join(root, 'work');
    git(root, 'init', '--quiet', '--bare', '-b', 'main', remote);
    git(root, 'init', '--quiet', '-b', 'main', work);
  });
  afterAll(async () => {
    await deleteStreams(store.jsm, names);
    await nc.drain();
    await rm(root, { recursive: true, force: true });
  });

  /** Commits `.kiln.yml`, runs a build of it and returns the build's `PipelineLoaded` data. */
  async function pipelineLoaded(pipeline: string[]) {
    await writeFile(join(work, '.kiln.yml'), [...pipeline, ''].join('\n'));
    git(work, 'add', '.kiln.yml');
    git(work, 'commit', '--quiet', '-m', 'pipeline');
    const sha = git(work, 'rev-parse', 'HEAD');
    git(work, 'push', '--quiet', remote, 'main');

    const buildId = newId();
    const now = new Date().toISOString();
    const source = { repoUrl: remote, ref: 'refs/heads/main', sha, branch: 'main', author: null, message: null };
    const subject = names.subjects.build(buildId);
    const cause = { correlationId: buildId };
    await store.handle(aggs.build, subject, { type: 'RequestBuild', data: { buildId, projectId: 'p-deploy', trigger: 'manual', deliveryId: null, source, requestedAt: now } }, cause);
    await store.handle(aggs.build, subject, { type: 'QueueBuild', now }, cause);
    await store.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w-deploy', attempt: 1, now }, cause);
    const job: LeaseJob = { buildId, projectId: 'p-deploy', attempt: 1, source };
    const runner = new JobRunner(store, aggs, names, 'w-deploy', job, join(root, 'worker'), log, { secretKey: 'k', logMaxBytes: 1 << 20 });
    expect(await runner.run()).toBe('succeeded');
    const { events, state } = await store.load(aggs.build, subject);
    const loaded = events.find((e) => e.type === 'PipelineLoaded');
    if (loaded?.type !== 'PipelineLoaded') throw new Error('no PipelineLoaded');
    return { data: loaded.data, state };
  }

  it('records null for a pipeline without a deploy section', async () => {
    const { data, state } = await pipelineLoaded(STEPS);
    expect(data.deploy).toBeNull();
    expect(state).toMatchObject({ status: 'succeeded', deploy: null });
  });

  it("records the deploy section's environment", async () => {
    const { data } = await pipelineLoaded([...STEPS, 'deploy:', '  environment: shop', '  start: node app.js']);
    expect(data.deploy).toEqual({ environment: 'shop' });
  });

  it('leaves it out when the deploy section does not parse (the deployer reads the file and reports the error)', async () => {
    const { data } = await pipelineLoaded([...STEPS, 'deploy:', '  environment: shop', '  start: node app.js', '  instances: many']);
    expect('deploy' in data).toBe(false);
  });
});
