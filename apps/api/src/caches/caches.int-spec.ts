import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { kilnNames, NotFoundError } from '@kiln/contracts';
import { CacheStore } from '@kiln/build-cache';
import { connectNats } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { CacheSweep } from './cache-sweep';
import { CachesController } from './caches.module';

describe('build-cache listing, eviction and the hourly sweep (real NATS)', () => {
  const names = kilnNames(testNamespace('caches'));
  let nc: NatsConnection;
  let cache: CacheStore;
  let tmp: string;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'caches-test');
    cache = await CacheStore.open(nc, names);
    tmp = mkdtempSync(join(tmpdir(), 'kiln-caches-'));
  });
  afterAll(async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(`OBJ_${names.buckets.cache}`).catch(() => undefined);
    await jsm.streams.delete(`KV_${names.buckets.cacheKeys}`).catch(() => undefined);
    await nc.drain();
    rmSync(tmp, { recursive: true, force: true });
  });

  let n = 0;
  const save = async (projectId: string, key: string) => {
    const dir = mkdtempSync(join(tmp, `ws${++n}-`));
    writeFileSync(join(dir, 'f.txt'), `${key} `.repeat(1000));
    expect((await cache.save(projectId, key, dir, ['f.txt'])).saved).toBe(true);
  };

  it('lists entries with size, last use and hits, most recently used first; evicts one; an unknown key is a 404', async () => {
    const controller = new CachesController(cache);
    await save('p1', 'a');
    await save('p1', 'b');
    const before = (await controller.list('p1')).items.find((e) => e.key === 'a')!;
    await new Promise((r) => setTimeout(r, 5));
    expect((await cache.restore('p1', 'a', [], mkdtempSync(join(tmp, 'dst-')))).result).toBe('hit');
    const listed = await controller.list('p1');
    expect(listed.items.map((e) => e.key)).toEqual(['a', 'b']);
    const a = listed.items[0];
    expect(a).toMatchObject({ key: 'a', hits: 1, createdAt: before.createdAt });
    expect(a.size).toBeGreaterThan(0);
    expect(Date.parse(a.lastUsedAt)).toBeGreaterThan(Date.parse(before.lastUsedAt));
    expect(listed.totalBytes).toBe(listed.items.reduce((s, e) => s + e.size, 0));

    expect(await controller.evict('p1', 'b')).toEqual({ evicted: 'b' });
    expect((await controller.list('p1')).items.map((e) => e.key)).toEqual(['a']);
    await expect(controller.evict('p1', 'b')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('the sweep ages out the entries of a project no build saves to any more, and keeps each project within its size', async () => {
    await save('idle', 'old');
    await save('busy', 'x');
    await save('busy', 'y');
    const busyBytes = (await cache.list('busy')).reduce((s, e) => s + e.size, 0);
    let now = Date.now();
    const sweep = new CacheSweep(cache, { maxBytes: busyBytes - 1, maxAgeMs: 60_000 }, new Logger('caches-test', {}, 'error'), () => now);
    await sweep.sweep();
    expect((await cache.list('busy')).map((e) => e.key)).toEqual(['y']);
    expect((await cache.list('idle')).map((e) => e.key)).toEqual(['old']);
    now += 120_000;
    await Promise.all([sweep.sweep(), sweep.sweep()]); // one at a time
    expect(await cache.list('idle')).toEqual([]);
    expect(await cache.list('busy')).toEqual([]);
    await sweep.stop();
  });
});
