import { BuildEvent, kilnNames, ProjectEvent, Recorded } from '@kiln/contracts';
import { encryptSecret, loadConfig } from '@kiln/config';
import { Build, buildDecider, Project, projectDecider } from '@kiln/domain';
import { aggregates, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { KnownProject, ProjectCatalog } from '../projects/project-catalog';
import { HostRequest } from './commit-status';
import { GitHostClient } from './git-host-client';
import { DEFAULT_RETRY_POLICY } from './host-response';
import { StatusReporter } from './status-reporter';

const names = kilnNames('unit');
const at = '2026-01-01T00:00:00.000Z';
const secretKey = 'unit-secret-key';
const sha = '3f786850e387550fdab836ed7e6dc881de23001b';

/** Build streams by subject; every read is counted: a read is what the reporter must not do for nothing. */
class BuildStreams {
  readonly streams = new Map<string, BuildEvent[]>();
  loads = 0;

  append(e: BuildEvent): void {
    const subject = names.subjects.build(e.data.buildId);
    this.streams.set(subject, [...(this.streams.get(subject) ?? []), e]);
  }

  async load(_agg: unknown, subject: string): Promise<{ state: Build; events: []; lastSeq: number }> {
    this.loads++;
    const events = this.streams.get(subject) ?? [];
    return { state: events.reduce(buildDecider.evolve, buildDecider.initialState()), events: [], lastSeq: events.length };
  }
}

/** Projects folded from their events, as the live catalog holds them. */
class Projects {
  readonly byId = new Map<string, Project>();

  given(...events: ProjectEvent[]): void {
    for (const e of events) this.byId.set(e.data.projectId, projectDecider.evolve(this.byId.get(e.data.projectId) ?? projectDecider.initialState(), e));
  }

  async get(projectId: string): Promise<KnownProject | null> {
    const p = this.byId.get(projectId);
    return p && p.status !== 'none' ? p : null;
  }
}

const created = (projectId: string, repoUrl: string, provider: 'github' | 'gitlab' = 'github'): ProjectEvent => ({
  type: 'ProjectCreated',
  data: { projectId, name: projectId, repoUrl, provider, webhookSecret: encryptSecret(secretKey, 'hook'), branches: null, concurrency: 2, createdAt: at },
});
const tokenSet = (projectId: string, token: string): ProjectEvent => ({
  type: 'ProjectSecretSet',
  data: { projectId, name: 'GIT_STATUS_TOKEN', value: encryptSecret(secretKey, token), setAt: at },
});

/** A build's life, event by event. */
const life = (buildId: string, projectId: string): BuildEvent[] => [
  { type: 'BuildRequested', data: { buildId, projectId, trigger: 'push', deliveryId: null, source: { repoUrl: 'r', ref: 'refs/heads/main', sha, branch: 'main', author: 'Ada', message: 'm' }, requestedAt: at } },
  { type: 'BuildQueued', data: { buildId, projectId, attempt: 1, queuedAt: at } },
  { type: 'BuildAssigned', data: { buildId, workerId: 'w', attempt: 1, assignedAt: at } },
  { type: 'BuildStarted', data: { buildId, workerId: 'w', attempt: 1, startedAt: at } },
  { type: 'BuildSucceeded', data: { buildId, attempt: 1, finishedAt: at } },
];

function setup(env: Record<string, string> = {}) {
  const builds = new BuildStreams();
  const projects = new Projects();
  const requests: HostRequest[] = [];
  const host: GitHostClient = { send: async (req) => (requests.push(req), { kind: 'sent' }) };
  const logs: string[] = [];
  const log = Object.fromEntries((['debug', 'info', 'warn', 'error'] as const).map((level) => [level, (msg: string) => logs.push(`${level}: ${msg}`)])) as unknown as Logger;
  const cfg = loadConfig({ KILN_SECRET_KEY: secretKey, KILN_PUBLIC_URL: 'http://kiln.test', ...env });
  const reporter = new StatusReporter(builds as unknown as EventStore, projects as unknown as ProjectCatalog, host, aggregates(names), names, cfg, log, DEFAULT_RETRY_POLICY);
  let seq = 0;
  /** Appends the event to its build, then delivers it to the reporter (or only appends: a consumer that was not running yet). */
  const happen = async (e: BuildEvent, delivered = true) => {
    builds.append(e);
    const recorded: Recorded<BuildEvent> = { ...e, version: 1, seq: ++seq, subject: names.subjects.build(e.data.buildId), meta: { eventId: `e-${seq}`, correlationId: e.data.buildId, occurredAt: at } };
    if (delivered) await reporter.onBuildEvent(recorded, 1);
  };
  const states = () => requests.map((r) => `${r.body.state} ${r.body.description}`);
  return { builds, projects, requests, logs, happen, states };
}

describe('StatusReporter: reads a build only when its status can be sent', () => {
  it('with no token anywhere, whole builds cost no read and no request, and the reason is logged once per project', async () => {
    const t = setup();
    t.projects.given(created('p-1', 'https://github.com/acme/web.git'));
    for (const buildId of ['b-1', 'b-2', 'b-3']) for (const e of life(buildId, 'p-1')) await t.happen(e);

    expect(t.builds.loads).toBe(0);
    expect(t.requests).toEqual([]);
    expect(t.logs).toEqual(['info: no commit statuses: set KILN_GITHUB_TOKEN or the project secret GIT_STATUS_TOKEN']);
  });

  it('a project whose repository is no hosted one, or that does not exist, costs no read either', async () => {
    const t = setup({ KILN_GITHUB_TOKEN: 'gh-global' });
    t.projects.given(created('p-local', '/srv/git/web.git'));
    for (const e of [...life('b-1', 'p-local'), ...life('b-2', 'p-gone')]) await t.happen(e);

    expect(t.builds.loads).toBe(0);
    expect(t.requests).toEqual([]);
    expect(t.logs).toEqual(['debug: no commit statuses: /srv/git/web.git names no github repository', 'debug: no commit statuses: unknown project']);
  });

  it('with a token, sends queued, running, succeeded as before, with the token and the build page', async () => {
    const t = setup({ KILN_GITHUB_TOKEN: 'gh-global' });
    t.projects.given(created('p-1', 'git@github.com:acme/web.git'));
    for (const e of life('b-1', 'p-1')) await t.happen(e);

    expect(t.states()).toEqual(['pending Queued', 'pending Running', 'success Succeeded in 0s']);
    expect(t.requests.map((r) => [r.url, r.headers.authorization, r.body.target_url])).toEqual(
      Array(3).fill([`https://api.github.com/repos/acme/web/statuses/${sha}`, 'Bearer gh-global', 'http://kiln.test/#/builds/b-1']),
    );
    expect(t.builds.loads).toBeGreaterThan(0);
  });

  it('the project secret is used when there is no global token, and a token set later counts from the next event', async () => {
    const t = setup();
    t.projects.given(created('p-1', 'https://gitlab.example.com/acme/api.git', 'gitlab'));
    const [requested, queued, , started, succeeded] = life('b-1', 'p-1');
    await t.happen(requested);
    await t.happen(queued);
    expect(t.builds.loads).toBe(0);

    t.projects.given(tokenSet('p-1', 'gl-own'));
    await t.happen(started);
    await t.happen(succeeded);
    expect(t.states()).toEqual(['running Running', 'success Succeeded in 0s']);
    expect(t.requests.map((r) => r.headers['private-token'])).toEqual(['gl-own', 'gl-own']);
  });

  it('a build whose BuildRequested was not seen (consumer started mid-build) is read and still gets its status', async () => {
    const t = setup({ KILN_GITHUB_TOKEN: 'gh-global' });
    t.projects.given(created('p-1', 'https://github.com/acme/web.git'));
    const [requested, queued, assigned, started] = life('b-1', 'p-1');
    for (const e of [requested, queued, assigned]) await t.happen(e, false);

    await t.happen(started);
    expect(t.builds.loads).toBeGreaterThan(0);
    expect(t.states()).toEqual(['pending Running']);
  });

  it('with no token, a build seen mid-build is read once to learn its project, then no more', async () => {
    const t = setup();
    t.projects.given(created('p-1', 'https://github.com/acme/web.git'));
    const [requested, queued, assigned, started, succeeded] = life('b-1', 'p-1');
    for (const e of [requested, queued, assigned]) await t.happen(e, false);

    await t.happen(started);
    await t.happen(succeeded);
    expect(t.builds.loads).toBe(1);
    expect(t.requests).toEqual([]);
  });
});
