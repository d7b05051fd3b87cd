import { readFileSync } from 'node:fs';
import { dropSchema } from '@kiln/persistence';
import { GitFixture } from '../../tools/platform/git-fixture';
import { Platform, readSse, TOKEN } from './harness';

/**
 * The walking skeleton, end to end: all services as real processes on real NATS
 * JetStream and PostgreSQL, a real git repository, signed GitHub push webhooks.
 */
describe('Kiln end to end', () => {
  const platform = new Platform();
  const secret = 'e2e-webhook-secret';
  const fullName = 'kiln-e2e/app';
  let repo: GitFixture;
  let projectId: string;

  const PIPELINE_OK = [
    'steps:',
    '  - name: build',
    '    run: |',
    '      for i in $(seq 1 50); do echo "line $i"; done',
    '      echo "to stderr" >&2',
    '  - name: test',
    '    env:',
    '      GREETING: hello',
    '    run: echo "$GREETING from $KILN_COMMIT_SHA"',
    '',
  ].join('\n');

  const push = (sha: string, deliveryId?: string, secretOverride?: string) =>
    platform.githubPush({ repoUrl: repo.bare, fullName, sha, secret: secretOverride ?? secret, deliveryId, message: 'e2e commit' });

  const buildCount = async () => (await platform.call('GET', `/api/projects/${projectId}/builds?limit=200`)).body.items.length as number;

  beforeAll(async () => {
    await platform.start();
    repo = new GitFixture(platform.tmp, 'app');
    const created = await platform.call('POST', '/api/projects', { name: 'e2e app', repoUrl: repo.bare, provider: 'github', webhookSecret: secret });
    expect(created.status).toBe(201);
    expect(created.body.webhook.url).toMatch(/\/webhooks\/github$/);
    projectId = created.body.id;
  }, 120_000);

  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  let okBuildId: string;
  let okSha: string;

  it('builds a signed push: succeeded, steps with exit codes, events in order', async () => {
    okSha = repo.commit({ '.kiln.yml': PIPELINE_OK, 'README.md': '# app\n' }, 'passing pipeline');
    const r = await push(okSha);
    expect(r.status).toBe(202);
    okBuildId = r.body.buildId;
    const build = await platform.finalBuild(okBuildId);
    expect(build.status).toBe('succeeded');
    expect(build.source.sha).toBe(okSha);
    expect(build.steps.map((s: { name: string; status: string; exitCode: number }) => [s.name, s.status, s.exitCode])).toEqual([
      ['build', 'succeeded', 0],
      ['test', 'succeeded', 0],
    ]);
    const events = await platform.call('GET', `/api/builds/${okBuildId}/events`);
    expect(events.body.items.map((e: { type: string }) => e.type)).toEqual([
      'BuildRequested',
      'BuildQueued',
      'BuildAssigned',
      'BuildStarted',
      'PipelineLoaded',
      'StepStarted',
      'StepFinished',
      'StepStarted',
      'StepFinished',
      'BuildSucceeded',
    ]);
    const seqs = events.body.items.map((e: { seq: number }) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    // one build is one trace: ingest, scheduler and the agent all joined the same trace
    const traceIds = new Set(events.body.items.map((e: { meta: { traceparent?: string } }) => e.meta.traceparent?.split('-')[1]));
    expect(traceIds.size).toBe(1);
    expect([...traceIds][0]).toMatch(/^[0-9a-f]{32}$/);
  });

  it('the ephemeral worker of that build retires itself and exits without taking its own retirement for the pool ending it', async () => {
    const build = (await platform.call('GET', `/api/builds/${okBuildId}`)).body;
    const workerId: string = build.workerId;
    expect(workerId).toEqual(expect.any(String));
    // the pool-manager logs the agent's exit after every line the agent wrote (they share its stdout)
    await platform.eventually(async () => platform.logs.find((l) => l.includes('"msg":"agent exited"') && l.includes(workerId)), 30_000, `worker ${workerId} to exit`);
    const agentLines = platform.logs.filter((l) => l.includes(`"workerId":"${workerId}"`));
    expect(agentLines.some((l) => l.includes('"msg":"build done"'))).toBe(true);
    expect(agentLines.filter((l) => /"level":"(warn|error)"/.test(l))).toEqual([]);
    // it recorded its retirement on the worker as its watch saw it (leased by the pool): one append, not one refused on the stream's sequence and retried
    const events = await platform.workerHistory(workerId);
    expect(events.map((e) => e.type)).toEqual(['WorkerProvisioning', 'WorkerConnected', 'WorkerWarm', 'WorkerLeased', 'WorkerRetired']);
    expect(events[4].meta.eventId).not.toMatch(/-r\d+$/);
  });

  it('serves the log in order through history and through SSE, and SSE resumes without gap or duplicate', async () => {
    const expected = [...Array.from({ length: 50 }, (_, i) => `line ${i + 1}`), 'to stderr', `hello from ${okSha}`];
    const history = await platform.call('GET', `/api/builds/${okBuildId}/logs?limit=5000`);
    expect(history.status).toBe(200);
    expect(history.body.complete).toBe(true);
    const stepLines = (items: { stream: string; text: string }[]) => items.filter((l) => l.stream !== 'system').map((l) => l.text);
    expect(stepLines(history.body.items)).toEqual(expected);
    expect(history.body.items.find((l: { text: string }) => l.text === 'to stderr').stream).toBe('stderr');
    // the commit came from the host's git mirror (prepared, or prefetched, when the build was requested), not a fetch of its own
    const head = history.body.items.map((l: { text: string }) => l.text).find((t: string) => t.startsWith('kiln: HEAD is'));
    expect(head).toMatch(new RegExp(`^kiln: HEAD is ${okSha} \\(checked out (by the pool while the build was queued|from the host's git mirror)\\)$`));

    // the raw download, with the token in the query as the dashboard's "Raw log" link sends it
    const raw = await fetch(`${platform.api}/api/builds/${okBuildId}/logs/raw?access_token=${encodeURIComponent(TOKEN)}`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await raw.text()).toBe(history.body.items.map((l: { text: string }) => l.text).join('\n'));

    const auth = { authorization: `Bearer ${TOKEN}` };
    const sse = await readSse(`${platform.api}/api/builds/${okBuildId}/logs/stream`, auth);
    const lines = sse.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data));
    expect(stepLines(lines)).toEqual(expected);
    expect(sse[sse.length - 1].event).toBe('end');
    expect(JSON.parse(sse[sse.length - 1].data).status).toBe('succeeded');

    // reconnect after 20 events with Last-Event-ID: the rest, no gap, no duplicate
    const first = await readSse(`${platform.api}/api/builds/${okBuildId}/logs/stream`, auth, 20);
    const rest = await readSse(`${platform.api}/api/builds/${okBuildId}/logs/stream`, { ...auth, 'last-event-id': first[first.length - 1].id! });
    const joined = [...first, ...rest].filter((e) => e.event === 'line').map((e) => e.id);
    expect(joined).toEqual(sse.filter((e) => e.event === 'line').map((e) => e.id));
  });

  it('follows a running build live over SSE', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: slow\n    run: |\n      echo start\n      sleep 1\n      echo done\n' }, 'slow pipeline');
    const r = await push(sha);
    const events = await readSse(`${platform.api}/api/builds/${r.body.buildId}/logs/stream`, { authorization: `Bearer ${TOKEN}` });
    const texts = events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data).text);
    expect(texts).toEqual(expect.arrayContaining(['start', 'done']));
    expect(texts.indexOf('start')).toBeLessThan(texts.indexOf('done'));
    expect(JSON.parse(events[events.length - 1].data).status).toBe('succeeded');
  });

  it('a failing step fails the build with its exit code', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: ok\n    run: echo fine\n  - name: broken\n    run: exit 3\n  - name: never\n    run: echo never\n' }, 'failing pipeline');
    const r = await push(sha);
    const build = await platform.finalBuild(r.body.buildId);
    expect(build.status).toBe('failed');
    expect(build.exitCode).toBe(3);
    expect(build.reason).toMatch(/broken.*exit code 3/);
    expect(build.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'failed', 'pending']);
  });

  it('a broken pipeline file fails the build naming the line', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: a\n    run: echo a\n  - name: b\n    run: [oops\n' }, 'broken yaml');
    const r = await push(sha);
    const build = await platform.finalBuild(r.body.buildId);
    expect(build.status).toBe('failed');
    expect(build.reason).toMatch(/\.kiln\.yml line \d+/);
  });

  it('a step over its timeout ends the build timed_out, kills its processes and retires the worker', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: hangs\n    timeout: 1s\n    run: |\n      (sleep 30 &)\n      sleep 30\n' }, 'step timeout');
    const r = await push(sha);
    const build = await platform.finalBuild(r.body.buildId);
    expect(build.status).toBe('timed_out');
    expect(build.reason).toMatch(/hangs.*1 s timeout/);
    expect(build.steps[0].status).toBe('timed_out');
    // the worker retires right after the build's end (the pool view follows)
    await platform.eventually(async () => {
      const pool = await platform.call('GET', '/api/pool');
      return pool.body.workers.some((w: { id: string }) => w.id === build.workerId) ? undefined : true;
    }, 10_000, 'the timed-out worker to retire');
    const whole = repo.commit({ '.kiln.yml': 'timeout: 1s\nsteps:\n  - name: long\n    run: sleep 30\n' }, 'build timeout');
    const w = await platform.finalBuild((await push(whole)).body.buildId);
    expect(w.status).toBe('timed_out');
    expect(w.reason).toMatch(/build exceeded its 1 s timeout/);
  });

  it('the read side yields the cores to dispatch: api and git-status run niced, the dispatch path does not', () => {
    // field 19 of /proc/<pid>/stat is the niceness; the command name (field 2) has no spaces here
    const nice = (name: Parameters<typeof platform.service>[0]) => Number(readFileSync(`/proc/${platform.service(name).child.pid}/stat`, 'utf8').split(' ')[18]);
    expect([nice('api'), nice('git-status')]).toEqual([10, 10]);
    expect([nice('ingest'), nice('scheduler'), nice('pool-manager'), nice('log-store'), nice('deployer')]).toEqual([0, 0, 0, 0, 0]);
  });

  it('the same delivery twice makes one build', async () => {
    const before = await buildCount();
    const delivery = `dup-${Date.now()}`;
    const a = await push(okSha, delivery);
    const b = await push(okSha, delivery);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.buildId).toBe(a.body.buildId);
    expect(b.body.duplicate).toBe(true);
    await platform.finalBuild(a.body.buildId);
    await platform.eventually(async () => ((await buildCount()) === before + 1 ? true : undefined), 10_000, 'one new build in the list');
    expect(await buildCount()).toBe(before + 1);
  });

  it('a bad signature gives 401 and no build', async () => {
    const before = await buildCount();
    const r = await push(okSha, undefined, 'wrong-secret');
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('unauthorized');
    await new Promise((res) => setTimeout(res, 300));
    expect(await buildCount()).toBe(before);
  });

  it('cancels a running build', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: forever\n    run: echo started; sleep 60\n' }, 'long build');
    const r = await push(sha);
    await platform.eventually(async () => ((await platform.call('GET', `/api/builds/${r.body.buildId}`)).body.steps?.[0]?.status === 'running' ? true : undefined));
    const t0 = Date.now();
    const c = await platform.call('POST', `/api/builds/${r.body.buildId}/cancel`, {});
    expect(c.status).toBe(202);
    const build = await platform.finalBuild(r.body.buildId);
    expect(build.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('cancelling a queued build ends its live log too', async () => {
    // a project that can run nothing at once keeps its builds queued
    const other = new GitFixture(platform.tmp, 'queued');
    const created = await platform.call('POST', '/api/projects', { name: 'queued', repoUrl: other.bare, provider: 'github', webhookSecret: secret, concurrency: 1 });
    const sha = other.commit({ '.kiln.yml': 'steps:\n  - name: long\n    run: sleep 30\n' }, 'long');
    const first = await platform.call('POST', `/api/projects/${created.body.id}/builds`, { ref: 'main', sha });
    const second = await platform.call('POST', `/api/projects/${created.body.id}/builds`, { ref: 'main', sha });
    await platform.eventually(async () => ((await platform.call('GET', `/api/builds/${second.body.buildId}`)).body.status === 'queued' ? true : undefined));
    const tail = readSse(`${platform.api}/api/builds/${second.body.buildId}/logs/stream`, { authorization: `Bearer ${TOKEN}` });
    await new Promise((r) => setTimeout(r, 200));
    expect((await platform.call('POST', `/api/builds/${second.body.buildId}/cancel`, {})).body.status).toBe('cancelled');
    const events = await tail;
    expect(events[events.length - 1]).toMatchObject({ event: 'end' });
    expect(JSON.parse(events[events.length - 1].data).status).toBe('cancelled');
    await platform.call('POST', `/api/builds/${first.body.buildId}/cancel`, {});
    await platform.finalBuild(first.body.buildId);
  });

  it('after restarting the api with an empty read model, builds read back identically (rebuilt from the streams)', async () => {
    const list = async () => (await platform.call('GET', `/api/projects/${projectId}/builds?limit=200`)).body;
    const FINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];
    // the read model is eventually consistent: wait until it has caught up with every build's end
    const before = await platform.eventually(async () => {
      const l = await list();
      return l.items.every((b: { status: string }) => FINAL.includes(b.status)) ? l : undefined;
    }, 30_000, 'read model to settle');
    const projectsBefore = (await platform.call('GET', '/api/projects')).body;
    expect(before.items.length).toBeGreaterThanOrEqual(6);
    await platform.restart('api', () => dropSchema(platform.env.DATABASE_URL!, platform.namespace));
    const after = await platform.eventually(async () => {
      const l = await list();
      return JSON.stringify(l) === JSON.stringify(before) ? l : undefined;
    }, 30_000, 'read model rebuilt');
    expect(after).toEqual(before);
    expect((await platform.call('GET', '/api/projects')).body).toEqual(projectsBefore);
    expect((await platform.call('GET', `/api/builds/${okBuildId}`)).body.status).toBe('succeeded');
  });

  it('retries a build: a new build of the same commit', async () => {
    const r = await platform.call('POST', `/api/builds/${okBuildId}/retry`, {});
    expect(r.status).toBe(202);
    expect(r.body.buildId).not.toBe(okBuildId);
    const build = await platform.finalBuild(r.body.buildId);
    expect(build).toMatchObject({ status: 'succeeded', trigger: 'retry' });
    expect(build.source.sha).toBe(okSha);
  });

  it('describes itself: OpenAPI document and a browsable page, without a token', async () => {
    const doc = await fetch(`${platform.api}/api/openapi.json`);
    expect(doc.status).toBe(200);
    const json = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(json.openapi).toMatch(/^3\./);
    expect(Object.keys(json.paths)).toEqual(expect.arrayContaining(['/api/projects', '/api/builds/{id}', '/api/builds/{id}/logs/stream']));
    const page = await fetch(`${platform.api}/api/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/swagger/i);
  });

  it('API tokens: hashed, scoped read-only or admin, revocable, rate limited', async () => {
    const created = await platform.call('POST', '/api/tokens', { name: 'ci-reader', scope: 'read' });
    expect(created.status).toBe(201);
    const token: string = created.body.token;
    expect(token).toMatch(/^kiln_/);
    const listed = await platform.call('GET', '/api/tokens');
    expect(JSON.stringify(listed.body)).not.toContain(token);
    const as = (method: string, path: string, body?: unknown) => platform.call(method, path, body, { authorization: `Bearer ${token}` });
    expect((await as('GET', '/api/projects')).status).toBe(200);
    expect((await as('GET', `/api/builds/${okBuildId}/logs?limit=1`)).status).toBe(200);
    const write = await as('POST', '/api/projects', { name: 'x', repoUrl: '/x', provider: 'github', webhookSecret: 'long-enough' });
    expect(write.status).toBe(403);
    expect((await as('POST', '/api/tokens', { name: 'escalate', scope: 'admin' })).status).toBe(403);
    // a burst far over the limit meets 429 with Retry-After. The requests it lets through are ones the API turns away at
    // once (a malformed query: 400, no database read), so the pace at which they reach the limiter does not depend on how
    // fast a loaded host answers real queries (at under 50 a second, the bucket refills as fast as it drains)
    const responses = await Promise.all(
      Array.from({ length: 300 }, () => fetch(`${platform.api}/api/projects/none/builds?limit=not-a-number`, { headers: { authorization: `Bearer ${token}` } })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses).toContain(429);
    expect(statuses).toContain(400);
    expect(Number(responses.find((r) => r.status === 429)!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await platform.call('DELETE', `/api/tokens/${created.body.id}`)).status).toBe(200);
    // at once: the replica that revoked it never lets a late watch entry bring it back
    expect((await as('GET', '/api/projects')).status).toBe(401);
  });

  it('a step cache: miss and save, then an exact hit, then a partial hit via restoreKeys; listed and evicted through the API', async () => {
    const pipeline = [
      'steps:',
      '  - name: deps',
      '    cache:',
      "      key: deps-${{ hashFiles('deps.lock') }}",
      '      paths: [vendor]',
      '      restoreKeys: [deps-]',
      '    run: |',
      '      if [ -f vendor/installed ]; then echo "restored: $(cat vendor/installed)"; else echo "fresh install"; fi',
      '      echo "exact hit: $KILN_CACHE_HIT"',
      '      mkdir -p vendor && cat deps.lock > vendor/installed',
      '',
    ].join('\n');
    const run = async (lock: string) => {
      const sha = repo.commit({ '.kiln.yml': pipeline, 'deps.lock': lock, 'src.txt': String(Math.random()) }, `deps ${lock}`);
      const build = await platform.finalBuild((await push(sha)).body.buildId);
      expect(build.status).toBe('succeeded');
      const events = (await platform.call('GET', `/api/builds/${build.id}/events`)).body.items as { type: string; data: Record<string, unknown> }[];
      const logs = (await platform.call('GET', `/api/builds/${build.id}/logs?limit=5000`)).body.items.map((l: { text: string }) => l.text);
      return { restore: events.find((e) => e.type === 'CacheRestored')!.data, save: events.find((e) => e.type === 'CacheSaved')!.data, logs };
    };
    const first = await run('lock-v1');
    expect(first.restore).toMatchObject({ result: 'miss' });
    expect(first.save).toMatchObject({ saved: true });
    expect(first.logs).toContain('fresh install');
    expect(first.logs).toContain('exact hit: false');
    const second = await run('lock-v1');
    expect(second.restore).toMatchObject({ result: 'hit', key: first.restore.key });
    expect(second.logs).toContain('restored: lock-v1');
    expect(second.logs).toContain('exact hit: true');
    expect(second.save).toMatchObject({ saved: false });
    const third = await run('lock-v2');
    expect(third.restore).toMatchObject({ result: 'partial', matchedKey: first.restore.key });
    expect(third.logs).toContain('restored: lock-v1');
    expect(third.logs).toContain('exact hit: false'); // a partial hit: the step must still install
    expect(third.save).toMatchObject({ saved: true });
    const caches = await platform.call('GET', `/api/projects/${projectId}/caches`);
    expect(caches.body.items.map((c: { key: string }) => c.key).sort()).toEqual([first.restore.key, third.restore.key].sort());
    expect(caches.body.items.every((c: { size: number }) => c.size > 0)).toBe(true);
    const evicted = await platform.call('DELETE', `/api/projects/${projectId}/caches/${encodeURIComponent(first.restore.key as string)}`);
    expect(evicted.status).toBe(200);
    expect((await platform.call('GET', `/api/projects/${projectId}/caches`)).body.items).toHaveLength(1);
  });

  it('auto-cancel: a newer push to a branch cancels the older build of that branch', async () => {
    const on = await platform.call('PATCH', `/api/projects/${projectId}`, { autoCancel: true });
    expect(on.status).toBe(200);
    expect(on.body.autoCancel).toBe(true);
    const slow = repo.commit({ '.kiln.yml': 'steps:\n  - name: slow\n    run: echo begin; sleep 20\n' }, 'slow one');
    const first = (await push(slow)).body.buildId;
    await platform.eventually(async () => ((await platform.call('GET', `/api/builds/${first}`)).body.steps?.[0]?.status === 'running' ? true : undefined));
    const fast = repo.commit({ '.kiln.yml': 'steps:\n  - name: quick\n    run: echo quick\n' }, 'newer');
    const second = (await push(fast)).body.buildId;
    const old = await platform.finalBuild(first);
    expect(old.status).toBe('cancelled');
    expect(old.reason).toMatch(/superseded by build/);
    expect((await platform.finalBuild(second)).status).toBe('succeeded');
    expect((await platform.call('PATCH', `/api/projects/${projectId}`, { autoCancel: false })).body.autoCancel).toBe(false);
    const listed = await platform.eventually(async () => {
      const p = (await platform.call('GET', `/api/projects/${projectId}`)).body;
      return p.autoCancel === false ? p : undefined;
    });
    expect(listed.autoCancel).toBe(false);
  });

  it('rejects API calls without the token', async () => {
    const r = await fetch(`${platform.api}/api/projects`);
    expect(r.status).toBe(401);
    const logs = await fetch(`${platform.api}/api/builds/${okBuildId}/logs`);
    expect(logs.status).toBe(401);
  });
});
