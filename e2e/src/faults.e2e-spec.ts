import { spawn, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropSchema } from '@kiln/persistence';
import { GitFixture } from '../../tools/platform/git-fixture';
import { stopService } from '../../tools/platform/launch';
import { agentPid, Platform } from './harness';

/**
 * Faults: a killed agent, services killed and restarted mid-batch, several replicas,
 * and the broker itself restarting. Nothing may be lost; no build may run twice at once.
 */
const secret = 'faults-webhook-secret';

interface Ev {
  type: string;
  data: Record<string, unknown>;
}

async function setup(platform: Platform, name: string) {
  const repo = new GitFixture(platform.tmp, name);
  const created = await platform.call('POST', '/api/projects', { name, repoUrl: repo.bare, provider: 'github', webhookSecret: secret, concurrency: 24 });
  expect(created.status).toBe(201);
  const push = async (sha: string) => {
    const r = await platform.githubPush({ repoUrl: repo.bare, fullName: `faults/${name}`, sha, secret });
    expect(r.status).toBe(202);
    return r.body.buildId as string;
  };
  return { repo, push, projectId: created.body.id as string };
}

const BATCH_PIPELINE = 'steps:\n  - name: work\n    run: |\n      for i in $(seq 1 20); do echo "tick $i"; sleep 0.05; done\n';

/** Every attempt of a build started at most once, and never while another attempt ran. */
function assertNeverTwiceAtOnce(events: Ev[]): void {
  let running = false;
  for (const e of events) {
    if (e.type === 'BuildStarted') {
      expect(running).toBe(false);
      running = true;
    }
    if (['BuildRequeued', 'BuildSucceeded', 'BuildFailed', 'BuildCancelled', 'BuildTimedOut'].includes(e.type)) running = false;
  }
}

async function assertCompleteLog(platform: Platform, buildId: string): Promise<void> {
  const logs = await platform.call('GET', `/api/builds/${buildId}/logs?limit=5000`);
  const build = await platform.call('GET', `/api/builds/${buildId}`);
  const last = logs.body.items.filter((l: { attempt: number; stream: string }) => l.attempt === build.body.attempt && l.stream === 'stdout').map((l: { text: string }) => l.text);
  expect(last).toEqual(Array.from({ length: 20 }, (_, i) => `tick ${i + 1}`));
  // line numbers within an attempt are consecutive: nothing lost, nothing twice
  const ns = logs.body.items.filter((l: { attempt: number }) => l.attempt === build.body.attempt).map((l: { n: number }) => l.n);
  expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => i + 1));
}

describe('faults on real NATS and PostgreSQL', () => {
  const platform = new Platform();
  beforeAll(() => platform.start({ KILN_POOL_MIN_WARM: '3', KILN_HEARTBEAT_MS: '500' }), 120_000);
  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  it('an agent killed with SIGKILL mid-build: the build is requeued and completes on another worker', async () => {
    const { repo, push } = await setup(platform, 'kill-agent');
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: slow\n    run: echo begin; sleep 2; echo end\n' }, 'slow');
    const buildId = await push(sha);
    const running = await platform.eventually(async () => {
      const b = (await platform.call('GET', `/api/builds/${buildId}`)).body;
      return b.steps?.[0]?.status === 'running' ? b : undefined;
    });
    const pid = agentPid(running.workerId);
    expect(pid).not.toBeNull();
    process.kill(pid!, 'SIGKILL');
    const build = await platform.finalBuild(buildId, 60_000);
    expect(build.status).toBe('succeeded');
    expect(build.attempt).toBe(2);
    expect(build.workerId).not.toBe(running.workerId);
    const events: Ev[] = (await platform.call('GET', `/api/builds/${buildId}/events`)).body.items;
    expect(events.map((e) => e.type)).toContain('BuildRequeued');
    assertNeverTwiceAtOnce(events);
  });

  it('scheduler, pool-manager, log-store and api killed and restarted one at a time during a batch: every build ends, once, with its whole log', async () => {
    const { repo, push } = await setup(platform, 'restarts');
    const sha = repo.commit({ '.kiln.yml': BATCH_PIPELINE }, 'batch');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await push(sha));
    await platform.crashAndRestart('scheduler');
    for (let i = 0; i < 3; i++) ids.push(await push(sha));
    await platform.crashAndRestart('pool-manager');
    for (let i = 0; i < 3; i++) ids.push(await push(sha));
    await platform.crashAndRestart('log-store');
    await platform.crashAndRestart('api');
    for (const id of ids) {
      const b = await platform.finalBuild(id, 90_000);
      expect([id, b.status]).toEqual([id, 'succeeded']);
      assertNeverTwiceAtOnce((await platform.call('GET', `/api/builds/${id}/events`)).body.items);
      await assertCompleteLog(platform, id);
    }
  }, 240_000);

  it('two replicas of scheduler and pool-manager never double-assign a build or a worker', async () => {
    const s2 = await platform.replica('scheduler');
    const p2 = await platform.replica('pool-manager');
    try {
      const { repo, push } = await setup(platform, 'replicas');
      const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: quick\n    run: echo quick\n' }, 'quick');
      const ids = await Promise.all(Array.from({ length: 12 }, () => push(sha)));
      const workers = new Map<string, string>();
      for (const id of ids) {
        const b = await platform.finalBuild(id, 90_000);
        expect(b.status).toBe('succeeded');
        const events: Ev[] = (await platform.call('GET', `/api/builds/${id}/events`)).body.items;
        expect(events.filter((e) => e.type === 'BuildAssigned')).toHaveLength(b.attempt);
        // an attempt whose worker was lost before it started never starts (loaded machine)
        const started = events.filter((e) => e.type === 'BuildStarted').length;
        expect(started).toBeGreaterThanOrEqual(1);
        expect(started).toBeLessThanOrEqual(b.attempt);
        assertNeverTwiceAtOnce(events);
        for (const e of events.filter((x) => x.type === 'BuildStarted')) {
          const w = e.data.workerId as string;
          // an ephemeral worker runs exactly one build
          expect(workers.get(w) ?? id).toBe(id);
          workers.set(w, id);
        }
      }
    } finally {
      await stopService(s2);
      await stopService(p2);
    }
  }, 180_000);
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('the NATS server restarts during a batch', () => {
  const platform = new Platform();
  const store = mkdtempSync(join(tmpdir(), 'kiln-nats-'));
  let port = 0;
  let nats: ChildProcess | null = null;
  const startNats = async () => {
    nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = createServer();
        s.once('error', () => r(true)); // port taken: server up
        s.listen(port, '127.0.0.1', () => s.close(() => r(false)));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('nats-server did not start');
  };

  beforeAll(async () => {
    port = await freePort();
    await startNats();
    await platform.start({ NATS_URL: `nats://127.0.0.1:${port}`, KILN_POOL_MIN_WARM: '3', KILN_HEARTBEAT_MS: '1000', KILN_HEARTBEAT_MISSES: '5' });
  }, 120_000);
  afterAll(async () => {
    await platform.stop();
    nats?.kill('SIGTERM');
    rmSync(store, { recursive: true, force: true });
    await dropSchema(platform.env.DATABASE_URL!, platform.namespace).catch(() => undefined);
  }, 60_000);

  it('services reconnect and every build finishes', async () => {
    const { repo, push } = await setup(platform, 'nats-restart');
    const sha = repo.commit({ '.kiln.yml': BATCH_PIPELINE }, 'batch');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await push(sha));
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((r) => nats!.once('exit', r));
    nats!.kill('SIGTERM');
    await exited;
    await new Promise((r) => setTimeout(r, 1000));
    await startNats();
    for (let i = 0; i < 3; i++) ids.push(await push(sha));
    for (const id of ids) {
      const b = await platform.finalBuild(id, 120_000);
      expect(['succeeded', 'failed', 'cancelled', 'timed_out']).toContain(b.status);
      assertNeverTwiceAtOnce((await platform.call('GET', `/api/builds/${id}/events`)).body.items);
    }
    // builds pushed after the restart run normally
    for (const id of ids.slice(4)) expect((await platform.call('GET', `/api/builds/${id}`)).body.status).toBe('succeeded');
  }, 240_000);
});
