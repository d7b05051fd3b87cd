import { BuildEvent } from '@kiln/contracts';
import { buildDecider, ExistingBuild } from '@kiln/domain';
import { buildPageUrl, desiredStatus, formatDuration, isStatusEvent, MAX_DESCRIPTION, reachOf, statusRequest, StatusTarget } from './commit-status';

const sha = '3f786850e387550fdab836ed7e6dc881de23001b';
const source = { repoUrl: 'https://github.com/acme/web.git', ref: 'refs/heads/main', sha, branch: 'main', author: 'Ada', message: 'm' };
const ev = {
  requested: (): BuildEvent => ({ type: 'BuildRequested', data: { buildId: 'b-1', projectId: 'p-1', trigger: 'push', deliveryId: 'd', source, requestedAt: '2026-01-01T00:00:00.000Z' } }),
  queued: (): BuildEvent => ({ type: 'BuildQueued', data: { buildId: 'b-1', projectId: 'p-1', attempt: 1, queuedAt: '2026-01-01T00:00:01.000Z' } }),
  assigned: (): BuildEvent => ({ type: 'BuildAssigned', data: { buildId: 'b-1', workerId: 'w', attempt: 1, assignedAt: '2026-01-01T00:00:02.000Z' } }),
  started: (): BuildEvent => ({ type: 'BuildStarted', data: { buildId: 'b-1', workerId: 'w', attempt: 1, startedAt: '2026-01-01T00:00:03.000Z' } }),
  succeeded: (): BuildEvent => ({ type: 'BuildSucceeded', data: { buildId: 'b-1', attempt: 1, finishedAt: '2026-01-01T00:01:08.000Z' } }),
  failed: (reason: string): BuildEvent => ({ type: 'BuildFailed', data: { buildId: 'b-1', attempt: 1, reason, exitCode: 1, finishedAt: '2026-01-01T00:00:09.000Z' } }),
  timedOut: (): BuildEvent => ({ type: 'BuildTimedOut', data: { buildId: 'b-1', attempt: 1, reason: 'step test exceeded 10m', finishedAt: '2026-01-01T00:10:09.000Z' } }),
  cancelled: (reason: string): BuildEvent => ({ type: 'BuildCancelled', data: { buildId: 'b-1', attempt: 1, reason, finishedAt: '2026-01-01T00:00:09.000Z' } }),
  requeued: (): BuildEvent => ({ type: 'BuildRequeued', data: { buildId: 'b-1', attempt: 2, reason: 'worker w was lost', requeuedAt: '2026-01-01T00:00:30.000Z' } }),
};
const fold = (...events: BuildEvent[]) => events.reduce((s, e) => buildDecider.evolve(s, e), buildDecider.initialState()) as ExistingBuild;

const target = (repo: StatusTarget['repo'], branch: string | null = 'main'): StatusTarget => ({
  repo,
  sha,
  branch,
  token: 'tok-123',
  targetUrl: 'https://kiln.example/#/builds/b-1',
  githubApiUrl: 'https://api.github.com',
  gitlabApiUrl: 'https://gitlab.example.com/api/v4',
});
const github = target({ provider: 'github', owner: 'acme', repo: 'web' });
const gitlab = target({ provider: 'gitlab', path: 'acme/platform/api' });

describe('desiredStatus: from the build state', () => {
  it('queued until a worker starts it, then running, then the outcome', () => {
    expect(desiredStatus(fold(ev.requested()))).toEqual({ phase: 'queued', final: false, description: 'Queued' });
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.assigned()))).toEqual({ phase: 'queued', final: false, description: 'Queued' });
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.assigned(), ev.started()))).toEqual({ phase: 'running', final: false, description: 'Running' });
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.started(), ev.succeeded()))).toEqual({ phase: 'succeeded', final: true, description: 'Succeeded in 1m 5s' });
  });

  it('says why a build failed, timed out or was cancelled, on one line of at most 140 characters', () => {
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.started(), ev.failed('step test exited 1')))).toEqual({ phase: 'failed', final: true, description: 'Failed: step test exited 1' });
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.started(), ev.timedOut()))).toMatchObject({ phase: 'timed_out', final: true, description: 'Timed out: step test exceeded 10m' });
    expect(desiredStatus(fold(ev.requested(), ev.cancelled('project p-1 was deleted')))).toEqual({ phase: 'cancelled', final: true, description: 'Cancelled: project p-1 was deleted' });
    const long = desiredStatus(fold(ev.requested(), ev.queued(), ev.started(), ev.failed(`step build exited 2:\n${'x'.repeat(300)}`)));
    expect(long.description).toHaveLength(MAX_DESCRIPTION);
    expect(long.description).toMatch(/^Failed: step build exited 2: x+…$/);
  });

  it('shows a requeued build as queued again, with its attempt', () => {
    expect(desiredStatus(fold(ev.requested(), ev.queued(), ev.started(), ev.requeued()))).toEqual({ phase: 'queued', final: false, description: 'Queued (attempt 2)' });
  });

  it('only events that can change the status cost a request', () => {
    for (const t of ['BuildRequested', 'BuildQueued', 'BuildStarted', 'PipelineLoaded', 'BuildRequeued', 'BuildSucceeded', 'BuildFailed', 'BuildTimedOut', 'BuildCancelled']) expect(isStatusEvent(t)).toBe(true);
    for (const t of ['BuildAssigned', 'StepStarted', 'StepFinished', 'CacheRestored', 'CacheSaved', 'BuildCancelRequested', 'Nonsense']) expect(isStatusEvent(t)).toBe(false);
  });

  it('formats durations', () => {
    expect([formatDuration(850), formatDuration(59_999), formatDuration(65_000), formatDuration(3_725_000)]).toEqual(['0s', '59s', '1m 5s', '1h 2m']);
  });
});

describe('statusRequest', () => {
  const running = { phase: 'running' as const, final: false, description: 'Running' };

  it('GitHub: POST /repos/:owner/:repo/statuses/:sha with a bearer token, context kiln and the build page', () => {
    expect(statusRequest(github, running)).toEqual({
      method: 'POST',
      url: `https://api.github.com/repos/acme/web/statuses/${sha}`,
      headers: expect.objectContaining({ authorization: 'Bearer tok-123', accept: 'application/vnd.github+json', 'user-agent': 'kiln-git-status' }),
      body: { state: 'pending', context: 'kiln', description: 'Running', target_url: 'https://kiln.example/#/builds/b-1' },
    });
  });

  it('GitHub states: pending, success, failure (failed or timed out), error (cancelled)', () => {
    const state = (phase: 'queued' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled') => statusRequest(github, { phase, final: phase !== 'queued', description: 'd' }).body.state;
    expect([state('queued'), state('succeeded'), state('failed'), state('timed_out'), state('cancelled')]).toEqual(['pending', 'success', 'failure', 'failure', 'error']);
  });

  it('GitLab: POST /projects/:url-encoded-path/statuses/:sha with PRIVATE-TOKEN, name kiln and the ref', () => {
    expect(statusRequest(gitlab, running)).toEqual({
      method: 'POST',
      url: `https://gitlab.example.com/api/v4/projects/acme%2Fplatform%2Fapi/statuses/${sha}`,
      headers: expect.objectContaining({ 'private-token': 'tok-123' }),
      body: { state: 'running', name: 'kiln', description: 'Running', target_url: 'https://kiln.example/#/builds/b-1', ref: 'main' },
    });
    expect(statusRequest(gitlab, running).headers.authorization).toBeUndefined();
    expect(statusRequest(target(gitlab.repo, null), running).body).not.toHaveProperty('ref');
  });

  it('GitLab states: pending, running, success, failed (failed or timed out), canceled', () => {
    const state = (phase: 'queued' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled') => statusRequest(gitlab, { phase, final: false, description: 'd' }).body.state;
    expect([state('queued'), state('running'), state('succeeded'), state('failed'), state('timed_out'), state('cancelled')]).toEqual(['pending', 'running', 'success', 'failed', 'failed', 'canceled']);
  });

  it('links the dashboard build page under the public URL', () => {
    expect(buildPageUrl('http://kiln.example:8080/', 'b-1')).toBe('http://kiln.example:8080/#/builds/b-1');
  });
});

describe('reachOf: whether the builds of a project can have statuses, before any build is read', () => {
  it('a hosted repository with a token is reached', () => {
    expect(reachOf({ provider: 'github', repoUrl: 'git@github.com:acme/web.git' }, 'tok')).toEqual({ repo: { provider: 'github', owner: 'acme', repo: 'web' }, token: 'tok' });
    expect(reachOf({ provider: 'gitlab', repoUrl: 'https://gitlab.example.com/acme/platform/api.git' }, 'tok')).toEqual({ repo: { provider: 'gitlab', path: 'acme/platform/api' }, token: 'tok' });
  });

  it('says why not: unknown project, no hosted repository, no token (naming the setting)', () => {
    expect(reachOf(null, 'tok')).toEqual({ nowhere: 'no commit statuses: unknown project', level: 'debug' });
    expect(reachOf({ provider: 'github', repoUrl: '/srv/git/web.git' }, 'tok')).toEqual({ nowhere: 'no commit statuses: /srv/git/web.git names no github repository', level: 'debug' });
    expect(reachOf({ provider: 'github', repoUrl: 'https://github.com/acme/web' }, null)).toEqual({ nowhere: 'no commit statuses: set KILN_GITHUB_TOKEN or the project secret GIT_STATUS_TOKEN', level: 'info' });
    expect(reachOf({ provider: 'gitlab', repoUrl: 'https://gitlab.com/acme/web' }, '')).toEqual({ nowhere: 'no commit statuses: set KILN_GITLAB_TOKEN or the project secret GIT_STATUS_TOKEN', level: 'info' });
  });
});
