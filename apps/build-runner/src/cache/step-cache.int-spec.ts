import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildEvent, BuildEventData, newId } from '@kiln/contracts';
import { loadConfig } from '@kiln/config';
import { lastSubjectSeq, readSubject } from '@kiln/event-store';
import { givenRunningBuild, useJetStreamStore } from '@kiln/testing-jetstream';
import { cacheStoreOf, restoreStepCache, saveStepCache, StepCacheContext } from './step-cache';

describe('Step cache in the agent: build log lines and CacheRestored/CacheSaved events (real NATS)', () => {
  const ns = useJetStreamStore({ namespacePrefix: 'stepcache', clientName: 'step-cache-test' });
  const { names, aggs } = ns;
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'kiln-step-cache-'));
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  const noLimits = { maxBytes: 1e12, maxAgeMs: 3_600_000 };

  /** A running build of `projectId` and a fresh workspace for it; `log` collects its system lines. */
  async function build(projectId: string, env: Record<string, string> = {}): Promise<{ ctx: StepCacheContext; log: string[]; events: () => Promise<BuildEvent[]> }> {
    const buildId = newId();
    const subject = names.subjects.build(buildId);
    const cause = { correlationId: buildId };
    await givenRunningBuild(ns, { buildId, projectId, workerId: 'w1' });
    const workspace = join(tmp, `build-${buildId}`);
    mkdirSync(workspace, { recursive: true });
    const log: string[] = [];
    const ctx: StepCacheContext = {
      store: ns.store,
      aggs,
      subject,
      cause,
      names,
      buildId,
      projectId,
      attempt: 1,
      branch: 'main',
      workspace,
      env,
      log: (t) => log.push(t),
      localCacheDir: join(tmp, 'no-prefetch'),
    };
    const events = async () =>
      (await readSubject(ns.store.js, aggs.build.stream, subject, await lastSubjectSeq(ns.store.jsm, aggs.build.stream, subject))).map((m) => aggs.build.codec.decode(m.data, m.seq, m.subject) as BuildEvent);
    return { ctx, log, events };
  }

  const dataOf = async <T extends 'CacheRestored' | 'CacheSaved'>(b: { events: () => Promise<BuildEvent[]> }, type: T) =>
    (await b.events()).find((e) => e.type === type)?.data as BuildEventData<T> | undefined;

  it('a miss, then a save, then an exact hit and a partial hit: each in the log and as an event with result, bytes and seconds', async () => {
    const projectId = newId();
    const spec = { key: 'deps-${{ env.LOCK }}-${{ branch }}', paths: ['vendor'], restoreKeys: ['deps-'] };

    const first = await build(projectId, { LOCK: 'v1' });
    expect(await restoreStepCache(first.ctx, 0, spec)).toEqual({ key: 'deps-v1-main', result: 'miss' });
    mkdirSync(join(first.ctx.workspace, 'vendor'));
    writeFileSync(join(first.ctx.workspace, 'vendor/lib.txt'), 'v1 '.repeat(100_000));
    await saveStepCache(first.ctx, 0, 'deps-v1-main', spec.paths, false, noLimits);
    expect(first.log).toEqual([
      'kiln: cache miss for deps-v1-main',
      expect.stringMatching(/^kiln: cache saved deps-v1-main: \d+\.\d MiB in \d+\.\d\d s$/),
    ]);
    expect(await dataOf(first, 'CacheRestored')).toMatchObject({ index: 0, key: 'deps-v1-main', result: 'miss', matchedKey: null, bytes: 0 });
    const saved = (await dataOf(first, 'CacheSaved'))!;
    expect(saved).toMatchObject({ index: 0, key: 'deps-v1-main', saved: true, reason: null });
    const entry = (await (await cacheStoreOf(ns.nc, names)).get(projectId, 'deps-v1-main'))!;
    expect(saved.bytes).toBe(entry.size);
    expect(saved.bytes).toBeGreaterThan(0);
    expect(saved.seconds).toBeGreaterThan(0);

    const second = await build(projectId, { LOCK: 'v1' });
    expect(await restoreStepCache(second.ctx, 0, spec)).toEqual({ key: 'deps-v1-main', result: 'hit' });
    await saveStepCache(second.ctx, 0, 'deps-v1-main', spec.paths, true, noLimits);
    expect(readFileSync(join(second.ctx.workspace, 'vendor/lib.txt'), 'utf8')).toBe('v1 '.repeat(100_000));
    expect(second.log).toEqual([
      expect.stringMatching(/^kiln: cache hit for deps-v1-main: \d+\.\d MiB in \d+\.\d\d s$/),
      'kiln: cache not saved for deps-v1-main: exact key was restored; nothing to save',
    ]);
    const hit = (await dataOf(second, 'CacheRestored'))!;
    expect(hit).toMatchObject({ result: 'hit', matchedKey: 'deps-v1-main', bytes: entry.size });
    expect(hit.seconds).toBeGreaterThan(0);
    expect(await dataOf(second, 'CacheSaved')).toMatchObject({ saved: false, bytes: 0, reason: 'exact key was restored; nothing to save' });

    // the step's env changed the key: the restoreKeys prefix gives the newest deps-* entry
    const third = await build(projectId, { LOCK: 'v2' });
    expect(await restoreStepCache(third.ctx, 0, spec)).toEqual({ key: 'deps-v2-main', result: 'partial' });
    expect(third.log).toEqual([expect.stringMatching(/^kiln: cache partial hit \(deps-v1-main\) for deps-v2-main: \d+\.\d MiB in \d+\.\d\d s$/)]);
    expect(await dataOf(third, 'CacheRestored')).toMatchObject({ key: 'deps-v2-main', result: 'partial', matchedKey: 'deps-v1-main', bytes: entry.size });
  });

  it('a save keeps the project within its limits (least recently used entry out); a save with none of its paths present is logged and recorded, not thrown', async () => {
    const projectId = newId();
    const cache = await cacheStoreOf(ns.nc, names);
    const saveOne = async (key: string, limits = noLimits) => {
      const b = await build(projectId);
      writeFileSync(join(b.ctx.workspace, 'out.bin'), randomBytes(50_000)); // incompressible: entries of about one size
      await saveStepCache(b.ctx, 0, key, ['out.bin'], false, limits);
      return b;
    };
    await saveOne('older');
    await saveOne('newer');
    const total = (await cache.list(projectId)).reduce((n, e) => n + e.size, 0);
    await saveOne('newest', { maxBytes: Math.round(total * 1.25), maxAgeMs: 3_600_000 }); // room for two of them, not three
    expect((await cache.list(projectId)).map((e) => e.key).sort()).toEqual(['newer', 'newest']);

    const nothing = await build(projectId);
    await saveStepCache(nothing.ctx, 0, 'k', ['not-there'], false, noLimits);
    expect(nothing.log).toEqual(['kiln: cache not saved for k: none of not-there exists']);
    expect(await dataOf(nothing, 'CacheSaved')).toMatchObject({ saved: false, bytes: 0, reason: 'none of not-there exists' });
    expect(existsSync(join(nothing.ctx.workspace, 'not-there'))).toBe(false);
  });

  it('limits default to 5 GiB and 30 days per project', () => {
    expect(loadConfig({})).toMatchObject({ cacheMaxBytes: 5 * 1024 ** 3, cacheMaxAgeMs: 30 * 24 * 3600_000 });
  });
});
