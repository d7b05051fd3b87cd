import { GitFixture } from '../../tools/platform/git-fixture';
import { Platform } from './harness';

/**
 * A project's later life through the whole platform: its webhook secret rotated, then the
 * project deleted while one of its builds runs and another waits in its queue.
 */
describe('project secret rotation and deletion, end to end', () => {
  const platform = new Platform();
  const firstSecret = 'e2e-first-webhook-secret';
  const fullName = 'kiln-e2e/lifecycle';
  let repo: GitFixture;
  let projectId: string;

  const push = (sha: string, secret: string) => platform.githubPush({ repoUrl: repo.bare, fullName, sha, secret });

  beforeAll(async () => {
    await platform.start();
    repo = new GitFixture(platform.tmp, 'lifecycle');
    const created = await platform.call('POST', '/api/projects', { name: 'lifecycle', repoUrl: repo.bare, provider: 'github', webhookSecret: firstSecret, concurrency: 1 });
    expect(created.status).toBe(201);
    projectId = created.body.id;
  }, 120_000);

  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  it('after a rotation without grace, pushes signed with the old secret are refused and the new secret builds', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: hi\n    run: echo hi\n' }, 'quick');
    const rotated = await platform.call('POST', `/api/projects/${projectId}/webhook-secret/rotate`, { graceSeconds: 0 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.previousSecretValidUntil).toBeNull();
    const newSecret: string = rotated.body.webhook.secret;

    expect(await push(sha, firstSecret)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    const ok = await push(sha, newSecret);
    expect(ok.status).toBe(202);
    expect((await platform.finalBuild(ok.body.buildId)).status).toBe('succeeded');
  });

  it('deleting the project cancels its running and queued builds, refuses its webhooks and drops it from the API; history stays', async () => {
    const secret = (await platform.call('POST', `/api/projects/${projectId}/webhook-secret/rotate`, { secret: 'e2e-current-secret', graceSeconds: 0 })).body.webhook.secret as string;
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: long\n    run: echo started; sleep 60\n' }, 'long');
    const running = await platform.call('POST', `/api/projects/${projectId}/builds`, { ref: 'main', sha });
    const queued = await platform.call('POST', `/api/projects/${projectId}/builds`, { ref: 'main', sha });
    await platform.eventually(async () => ((await platform.call('GET', `/api/builds/${running.body.buildId}`)).body.steps?.[0]?.status === 'running' ? true : undefined), 60_000, 'the first build to run');
    expect((await platform.call('GET', `/api/builds/${queued.body.buildId}`)).body.status).toBe('queued'); // concurrency 1

    expect((await platform.call('DELETE', `/api/projects/${projectId}`)).status).toBe(204);

    const [a, b] = await Promise.all([platform.finalBuild(running.body.buildId), platform.finalBuild(queued.body.buildId)]);
    expect([a.status, b.status]).toEqual(['cancelled', 'cancelled']);
    expect(b.reason).toBe(`project ${projectId} was deleted`);

    const refused = await push(sha, secret);
    expect(refused.status).toBe(404);
    expect(refused.body.message).toContain(`was deleted: ${projectId}`);
    await platform.eventually(async () => ((await platform.call('GET', `/api/projects/${projectId}`)).status === 404 ? true : undefined), 30_000, 'the project to leave the read model');
    expect((await platform.call('GET', '/api/projects')).body.items.map((p: { id: string }) => p.id)).not.toContain(projectId);
    expect((await platform.call('DELETE', `/api/projects/${projectId}`)).status).toBe(404);
    const history = await platform.call('GET', `/api/projects/${projectId}/builds`);
    expect(history.body.items.length).toBeGreaterThanOrEqual(3);
  });
});
