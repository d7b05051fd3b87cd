import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { kilnNames, newId } from '@kiln/contracts';
import { encryptSecret } from '@kiln/config';
import { aggregates, connectNats, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { eventually, testNamespace, testNatsUrl } from '@kiln/testing';
import { NatsConnection } from 'nats';
import { FakeGitHost, HostCall } from '../../test/fake-git-host';
import { AppModule } from '../app.module';
import { connectBuildsConsumer } from '../builds-consumer';
import { RETRY_POLICY } from './status-reporter';

/** Resolves when `check` returns a value; rejects after `ms` naming what it waited for. */
const sha = () => randomBytes(20).toString('hex');
const PUBLIC_URL = 'http://kiln.example:8080';

describe('git-status on real JetStream, posting to a fake GitHub and GitLab', () => {
  const savedEnv = { ...process.env };
  const names = kilnNames(testNamespace('gst'));
  const aggs = aggregates(names);
  const secretKey = `git-status-key-${randomBytes(4).toString('hex')}`;
  const host = new FakeGitHost();
  let nc: NatsConnection;
  let store: EventStore;
  let app: INestApplication;
  const now = () => new Date().toISOString();

  beforeAll(async () => {
    await host.start();
    nc = await connectNats(testNatsUrl(), 'git-status-int-spec');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
    Object.assign(process.env, {
      NATS_URL: testNatsUrl(),
      KILN_NAMESPACE: names.namespace,
      KILN_SECRET_KEY: secretKey,
      KILN_PUBLIC_URL: PUBLIC_URL,
      KILN_GITHUB_API_URL: host.githubApiUrl,
      KILN_GITLAB_API_URL: host.gitlabApiUrl,
      KILN_GITHUB_TOKEN: 'gh-global-token',
      KILN_GITLAB_TOKEN: 'gl-global-token',
      KILN_LOG_LEVEL: 'error',
    });
    const mod = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(RETRY_POLICY)
      .useValue({ baseDelayMs: 50, maxDelayMs: 200, maxAttempts: 100 })
      .compile();
    app = mod.createNestApplication({ logger: false });
    connectBuildsConsumer(app);
    await app.startAllMicroservices();
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await deleteStreams(store.jsm, names);
    await nc.drain();
    await host.stop();
    process.env = savedEnv;
  });

  async function project(provider: 'github' | 'gitlab', repoUrl: string, ownToken?: string): Promise<string> {
    const projectId = newId();
    const subject = names.subjects.project(projectId);
    await store.handle(aggs.project, subject, { type: 'CreateProject', data: { projectId, name: projectId, repoUrl, provider, webhookSecret: encryptSecret(secretKey, 'whatever-secret'), branches: null, concurrency: 4, createdAt: now() } }, { correlationId: projectId });
    if (ownToken) await store.handle(aggs.project, subject, { type: 'SetProjectSecret', projectId, name: 'GIT_STATUS_TOKEN', value: encryptSecret(secretKey, ownToken), now: now() }, { correlationId: projectId });
    return projectId;
  }

  /** Drives a build through its life by appending its events the way the other services do. */
  function build(projectId: string, commit: string) {
    const buildId = newId();
    const subject = names.subjects.build(buildId);
    const cause = { correlationId: buildId };
    return {
      buildId,
      request: async () => {
        await store.handle(aggs.build, subject, { type: 'RequestBuild', data: { buildId, projectId, trigger: 'push', deliveryId: `d-${buildId}`, source: { repoUrl: 'r', ref: 'refs/heads/main', sha: commit, branch: 'main', author: 'Ada', message: 'm' }, requestedAt: now() } }, cause);
        await store.handle(aggs.build, subject, { type: 'QueueBuild', now: now() }, cause);
      },
      start: async () => {
        await store.handle(aggs.build, subject, { type: 'AssignBuild', workerId: 'w-1', attempt: 1, now: now() }, cause);
        await store.handle(aggs.build, subject, { type: 'StartBuild', workerId: 'w-1', attempt: 1, now: now() }, cause);
      },
      finish: (outcome: 'succeeded' | 'failed', reason: string | null = null) =>
        store.handle(aggs.build, subject, { type: 'FinishBuild', attempt: 1, outcome, reason, exitCode: outcome === 'failed' ? 1 : 0, now: now() }, cause),
    };
  }

  /** Every build event delivered and acked (none waiting for a retry). */
  async function drained(): Promise<void> {
    await eventually(async () => {
      const info = await store.jsm.consumers.info(names.streams.builds, names.durables.gitStatusBuilds);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    }, 'the consumer to drain', 20_000);
  }

  const answeredOk = (calls: HostCall[]) => calls.filter((c) => c.answered < 300);
  const states = (calls: HostCall[]) => calls.map((c) => c.body.state);
  const nCalls = (commit: string, n: number, what: string) => eventually(() => (answeredOk(host.forSha(commit)).length >= n ? true : undefined), what, 20_000);

  it('GitHub: a build queued → running → succeeded posts pending, pending, success with the global token and the build page', async () => {
    const commit = sha();
    const b = build(await project('github', 'https://github.com/acme/web.git'), commit);
    await b.request();
    await nCalls(commit, 1, 'the queued status');
    await b.start();
    await nCalls(commit, 2, 'the running status');
    await b.finish('succeeded');
    await nCalls(commit, 3, 'the final status');
    await drained();

    const calls = host.forSha(commit);
    expect(calls.map((c) => [c.method, c.path])).toEqual(Array(3).fill(['POST', `/gh/repos/acme/web/statuses/${commit}`]));
    const target_url = `${PUBLIC_URL}/#/builds/${b.buildId}`;
    expect(calls.map((c) => c.body)).toEqual([
      { state: 'pending', context: 'kiln', description: 'Queued', target_url },
      { state: 'pending', context: 'kiln', description: 'Running', target_url },
      { state: 'success', context: 'kiln', description: expect.stringMatching(/^Succeeded in \d+s$/), target_url },
    ]);
    for (const c of calls) {
      expect(c.headers.authorization).toBe('Bearer gh-global-token');
      expect(c.headers.accept).toBe('application/vnd.github+json');
      expect(c.headers['user-agent']).toBe('kiln-git-status');
    }
  });

  it('GitLab: a failing build posts pending, running, failed to the URL-encoded project path with the project token', async () => {
    const commit = sha();
    const b = build(await project('gitlab', 'https://gitlab.example.com/acme/platform/api.git', 'gl-project-token'), commit);
    await b.request();
    await nCalls(commit, 1, 'the queued status');
    await b.start();
    await nCalls(commit, 2, 'the running status');
    await b.finish('failed', 'step test exited 1');
    await nCalls(commit, 3, 'the final status');
    await drained();

    const calls = host.forSha(commit);
    expect(calls.map((c) => c.path)).toEqual(Array(3).fill(`/gl/api/v4/projects/acme%2Fplatform%2Fapi/statuses/${commit}`));
    const target_url = `${PUBLIC_URL}/#/builds/${b.buildId}`;
    expect(calls.map((c) => c.body)).toEqual([
      { state: 'pending', name: 'kiln', description: 'Queued', target_url, ref: 'main' },
      { state: 'running', name: 'kiln', description: 'Running', target_url, ref: 'main' },
      { state: 'failed', name: 'kiln', description: 'Failed: step test exited 1', target_url, ref: 'main' },
    ]);
    for (const c of calls) {
      expect(c.headers['private-token']).toBe('gl-project-token');
      expect(c.headers.authorization).toBeUndefined();
    }
  });

  it('retries after a 503 and never lets a late pending land after the final state, while other builds go on', async () => {
    const down = new Set<string>();
    host.answer = (path) => ([...down].some((s) => path.endsWith(s)) ? { status: 503, body: { message: 'Service Unavailable' } } : { status: 201 });
    try {
      const projectId = await project('github', 'git@github.com:acme/flaky.git');
      const flakyCommit = sha();
      const flaky = build(projectId, flakyCommit);
      down.add(flakyCommit);
      await flaky.request();
      // at least two refused attempts: the event is being retried
      await eventually(() => (host.forSha(flakyCommit).filter((c) => c.answered === 503).length >= 2 ? true : undefined), 'retries of the refused status', 20_000);

      // meanwhile another build of the same host is reported from start to end
      const otherCommit = sha();
      const other = build(projectId, otherCommit);
      await other.request();
      await other.start();
      await other.finish('succeeded');
      await eventually(() => (states(answeredOk(host.forSha(otherCommit))).includes('success') ? true : undefined), 'the other build to be reported', 20_000);
      expect(answeredOk(host.forSha(flakyCommit))).toEqual([]);

      // the flaky build finishes while its host is still down, then the host comes back
      await flaky.start();
      await flaky.finish('failed', 'step lint exited 2');
      down.delete(flakyCommit);
      await eventually(() => (states(answeredOk(host.forSha(flakyCommit))).includes('failure') ? true : undefined), 'the final status after the outage', 20_000);
      await drained();

      const ok = answeredOk(host.forSha(flakyCommit));
      expect(states(ok).slice(-1)).toEqual(['failure']);
      expect(states(ok.slice(states(ok).indexOf('failure')))).toEqual(['failure']); // nothing after the final state
      expect(ok[ok.length - 1].body.description).toBe('Failed: step lint exited 2');
      expect(host.forSha(flakyCommit).filter((c) => c.answered === 503).length).toBeGreaterThanOrEqual(2);
    } finally {
      host.answer = () => ({ status: 201 });
    }
  });

  it('drops a status the host refuses (4xx) without retrying it, and goes on with the next one', async () => {
    const commit = sha();
    host.answer = (path) => (path.endsWith(commit) ? { status: 422, body: { message: `No commit found for SHA: ${commit}` } } : { status: 201 });
    try {
      const b = build(await project('github', 'https://github.com/acme/gone.git'), commit);
      await b.request();
      await eventually(() => (host.forSha(commit).length >= 1 ? true : undefined), 'the refused status', 20_000);
      await drained();
      await b.start();
      await eventually(() => (host.forSha(commit).length >= 2 ? true : undefined), 'the next status', 20_000);
      await drained();
      expect(host.forSha(commit).map((c) => [c.answered, c.body.description])).toEqual([
        [422, 'Queued'],
        [422, 'Running'],
      ]);
    } finally {
      host.answer = () => ({ status: 201 });
    }
  });

  it('posts nothing for a project whose repository URL names no hosted repository (a local path)', async () => {
    const commit = sha();
    const b = build(await project('github', '/srv/git/acme/web.git'), commit);
    const before = host.calls.length;
    await b.request();
    await b.start();
    await b.finish('succeeded');
    await drained();
    expect(host.calls.length).toBe(before);
  });
});
