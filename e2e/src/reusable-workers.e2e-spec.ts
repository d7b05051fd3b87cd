import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Attr } from '@kiln/contracts';
import { GitFixture } from '../../tools/platform/git-fixture';
import { Platform } from './harness';

/**
 * `KILN_POOL_EPHEMERAL=false`: a worker that ran a build goes back to the pool warm and runs
 * the next one, instead of retiring. One worker at most, so both builds must run on it.
 */
describe('Kiln end to end: reusable workers (ephemeral off)', () => {
  const platform = new Platform();
  const secret = 'e2e-reusable-secret';
  const fullName = 'kiln-e2e/reusable';
  let repo: GitFixture;
  // every service's spans, one JSON line each: what each command read and wrote
  const spanLog = join(platform.tmp, 'spans.jsonl');

  beforeAll(async () => {
    await platform.start({ KILN_POOL_EPHEMERAL: 'false', KILN_POOL_MIN_WARM: '1', KILN_POOL_MAX_WORKERS: '1', KILN_SPAN_LOG: spanLog });
    repo = new GitFixture(platform.tmp, 'reusable');
    const created = await platform.call('POST', '/api/projects', { name: 'reusable', repoUrl: repo.bare, provider: 'github', webhookSecret: secret });
    expect(created.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  const build = async (n: number) => {
    const sha = repo.commit({ '.kiln.yml': `steps:\n  - name: run\n    run: echo "build ${n}" && test ! -e left-by-earlier-build && touch left-by-earlier-build\n` }, `build ${n}`);
    const r = await platform.githubPush({ repoUrl: repo.bare, fullName, sha, secret, message: `build ${n}` });
    expect(r.status).toBe(202);
    return platform.finalBuild(r.body.buildId);
  };

  it('runs one build after another on the same worker, released warm between them, each in a clean workspace', async () => {
    const first = await build(1);
    expect(first.status).toBe('succeeded');
    const second = await build(2);
    // a file the first build left in its workspace would fail the second
    expect(second.status).toBe('succeeded');
    expect(second.workerId).toBe(first.workerId);

    const pool = await platform.eventually(async () => {
      const r = await platform.call('GET', '/api/pool');
      const w = r.body.workers?.find((x: { id: string }) => x.id === first.workerId);
      return w?.status === 'warm' ? r.body : undefined;
    }, 30_000, `worker ${first.workerId} to be warm again`);
    // live workers only: the one, never a second beside it
    expect(pool.workers.map((w: { id: string }) => w.id)).toEqual([first.workerId]);

    const events = await platform.workerHistory(first.workerId);
    expect(events.map((e) => e.type)).toEqual(['WorkerProvisioning', 'WorkerConnected', 'WorkerWarm', 'WorkerLeased', 'WorkerReleased', 'WorkerLeased', 'WorkerReleased']);
    // each release was one append: none refused on the stream's sequence and retried
    expect(events.filter((e) => /-r\d+$/.test(e.meta.eventId))).toEqual([]);
  });

  it('provisions a worker, and releases it, without reading the worker first: the pool knows a new id is empty, the agent follows its worker', async () => {
    type Span = { service: string; span: string; parent?: string; name: string; attrs: Record<string, unknown> };
    const spans: Span[] = readFileSync(spanLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Span);
    const reads = (command: string) => {
      const handles = spans.filter((s) => s.name === 'eventstore.handle' && s.attrs[Attr.commandType] === command);
      return { handled: handles.length, read: handles.filter((h) => spans.some((s) => s.parent === h.span && s.name === 'eventstore.load')).length };
    };
    expect(reads('ProvisionWorker')).toEqual({ handled: 1, read: 0 });
    expect(reads('ReleaseWorker')).toEqual({ handled: 2, read: 0 });
  });
});
