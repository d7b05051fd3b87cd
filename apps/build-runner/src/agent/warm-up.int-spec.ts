import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { newId } from '@kiln/contracts';
import { CacheStore, LocalCache } from '@kiln/build-cache';
import { connectNats, readSubject, lastSubjectSeq } from '@kiln/event-store';
import { testNatsUrl } from '@kiln/testing';
import { givenRunningBuild, useJetStreamStore } from '@kiln/testing-jetstream';
import { cacheWarmUp, refreshWhileIdle } from '../cache/cache-warm-up';
import { cacheStoreOf, localCacheDir, restoreStepCache } from '../cache/step-cache';
import { CacheWarmUp, warmUp } from './warm-up';

describe('Agent warm-up: cache reachable and pool cache prefetch (real NATS)', () => {
  const ns = useJetStreamStore({ namespacePrefix: 'warmup', clientName: 'warm-up-test-agent' });
  const { names, aggs } = ns;
  let other: NatsConnection;
  let tmp: string;

  beforeAll(async () => {
    other = await connectNats(testNatsUrl(), 'warm-up-test-earlier-worker');
    tmp = mkdtempSync(join(tmpdir(), 'kiln-warmup-'));
  });
  afterAll(async () => {
    await other.drain();
    rmSync(tmp, { recursive: true, force: true });
  });

  const settings = (workRoot: string, prefetch = 5) => ({ workRoot, poolCachePrefetch: prefetch, poolCachePrefetchBytes: 1 << 30, poolCachePrefetchTimeoutMs: 60_000 });

  /** A running build, as the scheduler and a worker would have recorded it. */
  async function runningBuild(projectId: string, workerId: string): Promise<{ buildId: string; subject: string }> {
    const buildId = newId();
    await givenRunningBuild(ns, { buildId, projectId, workerId });
    return { buildId, subject: names.subjects.build(buildId) };
  }

  it('a fresh worker holds the most used entries after warm-up and its first build restores them without a download', async () => {
    const projectId = newId();
    // an earlier build, on another worker, saved the project's node_modules
    const saved = join(tmp, 'earlier');
    mkdirSync(join(saved, 'node_modules/left-pad'), { recursive: true });
    writeFileSync(join(saved, 'node_modules/left-pad/index.js'), 'module.exports = "padded"');
    expect((await (await CacheStore.open(other, names)).save(projectId, 'npm-v1', saved, ['node_modules'])).saved).toBe(true);

    const workRoot = join(tmp, 'worker-fresh');
    const warnings: string[] = [];
    const checks = await warmUp({ workRoot, cache: cacheWarmUp(ns.nc, names, settings(workRoot)), warn: (m) => warnings.push(m) });
    expect(checks).toContainEqual(expect.stringMatching(new RegExp(`^cache reachable \\(object store ${names.buckets.cache}`)));
    expect(checks).toContainEqual(expect.stringMatching(/^cache prefetched: 1 entry \(\d+\.\d MiB copied in \d+\.\d\d s\)$/));
    expect(warnings).toEqual([]);

    const cache = await cacheStoreOf(ns.nc, names);
    const downloadsBefore = cache.reads.store;
    const { buildId, subject } = await runningBuild(projectId, 'w-fresh');
    const workspace = join(workRoot, `build-${buildId}-1`);
    mkdirSync(workspace, { recursive: true });
    const log: string[] = [];
    const restored = await restoreStepCache(
      {
        store: ns.store,
        aggs,
        subject,
        cause: { correlationId: buildId },
        names,
        buildId,
        projectId,
        attempt: 1,
        branch: 'main',
        workspace,
        env: {},
        log: (t) => log.push(t),
        localCacheDir: localCacheDir(workRoot),
      },
      0,
      { key: 'npm-v1', paths: ['node_modules'], restoreKeys: [] },
    );
    expect(restored).toEqual({ key: 'npm-v1', result: 'hit' });
    expect(log).toEqual([expect.stringMatching(/^kiln: cache hit \(prefetched\) for npm-v1: \d+\.\d MiB in \d+\.\d\d s$/)]);
    expect(cache.reads.store).toBe(downloadsBefore);
    expect(readFileSync(join(workspace, 'node_modules/left-pad/index.js'), 'utf8')).toBe('module.exports = "padded"');
    const events = await readSubject(ns.store.js, aggs.build.stream, subject, await lastSubjectSeq(ns.store.jsm, aggs.build.stream, subject));
    const restoredEvent = events.map((m) => aggs.build.codec.decode(m.data, m.seq, m.subject)).find((e) => e.type === 'CacheRestored');
    expect(restoredEvent?.data).toMatchObject({ key: 'npm-v1', result: 'hit', matchedKey: 'npm-v1' });
  });

  it('an idle warm worker also copies an entry saved after its warm-up', async () => {
    const workRoot = join(tmp, 'worker-idle');
    await warmUp({ workRoot, cache: cacheWarmUp(ns.nc, names, settings(workRoot)) });
    const warnings: string[] = [];
    const refresh = await refreshWhileIdle(ns.nc, names, settings(workRoot), (m) => warnings.push(m));
    try {
      const src = join(tmp, 'late');
      mkdirSync(join(src, 'vendor'), { recursive: true });
      writeFileSync(join(src, 'vendor/late.txt'), 'saved after the warm-up');
      const projectId = newId();
      const saver = await CacheStore.open(other, names);
      await saver.save(projectId, 'late', src, ['vendor']);
      const sha = (await saver.get(projectId, 'late'))!.sha256;
      const local = new LocalCache(localCacheDir(workRoot));
      for (let i = 0; i < 200 && !existsSync(local.unpackedPath(sha)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(local.has(sha)).toBe(true);
      const cache = await cacheStoreOf(ns.nc, names);
      const ws = join(workRoot, 'build-late');
      mkdirSync(ws);
      expect(await cache.restore(projectId, 'late', [], ws, { local })).toMatchObject({ result: 'hit', source: 'local' });
      expect(readFileSync(join(ws, 'vendor/late.txt'), 'utf8')).toBe('saved after the warm-up');
      expect(warnings).toEqual([]);
    } finally {
      refresh.stop();
    }
  });

  it('with prefetch set to 0 the cache is still checked and nothing is copied', async () => {
    const workRoot = join(tmp, 'worker-noprefetch');
    const checks = await warmUp({ workRoot, cache: cacheWarmUp(ns.nc, names, settings(workRoot, 0)) });
    expect(checks.some((c) => c.startsWith('cache reachable'))).toBe(true);
    expect(checks.some((c) => c.startsWith('cache prefetch'))).toBe(false);
  });

  it('fails, with the reason, when the cache answers with an error (the agent then retires the worker)', async () => {
    const nc2 = await connectNats(testNatsUrl(), 'warm-up-test-closed');
    const cache = await CacheStore.open(nc2, names);
    await nc2.close();
    const workRoot = join(tmp, 'worker-closed');
    await expect(warmUp({ workRoot, cache: { reachable: () => cache.status(), prefetchTimeoutMs: 1000 } })).rejects.toThrow(/^cache is not reachable: .*(CONNECTION_CLOSED|closed)/i);
  });

  it('keeps trying a cache that times out, and passes once it answers', async () => {
    let calls = 0;
    const flaky: CacheWarmUp = {
      reachable: async () => {
        if (++calls < 3) throw Object.assign(new Error('TIMEOUT'), { code: 'TIMEOUT' });
        return 'cache reachable (stand-in)';
      },
      prefetchTimeoutMs: 1000,
    };
    expect(await warmUp({ workRoot: join(tmp, 'worker-flaky'), cache: flaky })).toContain('cache reachable (stand-in)');
    expect(calls).toBe(3);
  });

  it('a cache that never answers keeps the worker cold until the warm-up timeout, then fails', async () => {
    const hang: CacheWarmUp = { reachable: () => new Promise<string>(() => undefined), prefetchTimeoutMs: 1000 };
    await expect(warmUp({ workRoot: join(tmp, 'worker-hang'), cache: hang, timeoutMs: 300 })).rejects.toThrow('cache did not answer within 300 ms (no answer)');
  });

  it('a prefetch that fails or hangs is logged and the worker still goes warm', async () => {
    const warnings: { m: string; reason: unknown }[] = [];
    const warn = (m: string, d: Record<string, unknown>) => warnings.push({ m, reason: d.reason });
    const failing: CacheWarmUp = { reachable: async () => 'ok', prefetch: async () => Promise.reject(new Error('object store gone')), prefetchTimeoutMs: 60_000 };
    expect(await warmUp({ workRoot: join(tmp, 'worker-pf-fail'), cache: failing, warn })).toContain('cache prefetch failed (warm without it): object store gone');
    let signalled: AbortSignal | null = null;
    const hanging: CacheWarmUp = {
      reachable: async () => 'ok',
      prefetch: (signal) => {
        signalled = signal;
        return new Promise(() => undefined);
      },
      prefetchTimeoutMs: 200,
    };
    const checks = await warmUp({ workRoot: join(tmp, 'worker-pf-hang'), cache: hanging, warn });
    expect(checks).toContain('cache prefetch failed (warm without it): cache prefetch took longer than 200 ms');
    expect(signalled!.aborted).toBe(true);
    expect(warnings).toEqual([
      { m: 'cache prefetch failed; the worker goes warm without it', reason: 'object store gone' },
      { m: 'cache prefetch failed; the worker goes warm without it', reason: 'cache prefetch took longer than 200 ms' },
    ]);
  });
});
