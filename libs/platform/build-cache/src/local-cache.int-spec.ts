import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { connectNats } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { CacheStore } from './cache-store';
import { LocalCache } from './local-cache';

describe('Prefetched cache copies on a fresh worker (real NATS)', () => {
  const names = kilnNames(testNamespace('cachepf'));
  let builder: NatsConnection;
  let worker: NatsConnection;
  /** The store as a worker that already ran builds sees it. */
  let saver: CacheStore;
  let tmp: string;

  beforeAll(async () => {
    builder = await connectNats(testNatsUrl(), 'cache-prefetch-saver');
    worker = await connectNats(testNatsUrl(), 'cache-prefetch-worker');
    saver = await CacheStore.open(builder, names);
    tmp = mkdtempSync(join(tmpdir(), 'kiln-cachepf-'));
  });
  afterAll(async () => {
    const jsm = await builder.jetstreamManager();
    await jsm.streams.delete(`OBJ_${names.buckets.cache}`).catch(() => undefined);
    await jsm.streams.delete(`KV_${names.buckets.cacheKeys}`).catch(() => undefined);
    await builder.drain();
    await worker.drain();
    rmSync(tmp, { recursive: true, force: true });
  });

  let n = 0;
  const dirWith = (files: Record<string, string>) => {
    const dir = join(tmp, `d${++n}`);
    mkdirSync(dir, { recursive: true });
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(dir, p, '..'), { recursive: true });
      writeFileSync(join(dir, p), c);
    }
    return dir;
  };

  it('a fresh worker restores a prefetched entry from its own copy, reading nothing from the object store', async () => {
    await saver.save('pa', 'npm-1', dirWith({ 'node_modules/a/index.js': 'a1', 'node_modules/b/big.txt': 'b'.repeat(200_000) }), ['node_modules']);
    await saver.save('pb', 'gradle', dirWith({ '.gradle/x': 'g' }), ['.gradle']);
    const fresh = await CacheStore.open(worker, names);
    const local = new LocalCache(join(tmp, 'worker-1', '.kiln-cache'));
    const pf = await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30 });
    expect(pf).toMatchObject({ copied: 2, held: 0, failed: [] });
    expect((await local.list()).length).toBe(2);
    const fetchedBefore = fresh.reads.store;

    const ws = dirWith({});
    const r = await fresh.restore('pa', 'npm-1', [], ws, { local });
    expect(r).toMatchObject({ result: 'hit', matchedKey: 'npm-1', source: 'local' });
    expect(fresh.reads.store).toBe(fetchedBefore);
    expect(fresh.reads.local).toBe(1);
    expect(readFileSync(join(ws, 'node_modules/a/index.js'), 'utf8')).toBe('a1');
    expect(readFileSync(join(ws, 'node_modules/b/big.txt'), 'utf8')).toHaveLength(200_000);
    // a restore from a copy is a use like any other
    expect((await fresh.get('pa', 'npm-1'))?.hits).toBe(1);
    // prefetching again copies nothing new
    expect(await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30 })).toMatchObject({ copied: 0, held: 2 });
  });

  it("a restore arriving while this worker copies its entry waits for the copy and moves it in; a stop ends the copying after that entry", async () => {
    await saver.save('pw', 'npm-w', dirWith({ 'node_modules/w/index.js': 'w1', 'node_modules/w/big.txt': 'w'.repeat(300_000) }), ['node_modules']);
    await saver.save('pw2', 'other', dirWith({ 'o/x.txt': 'o' }), ['o']);
    const fresh = await CacheStore.open(worker, names);
    const local = new LocalCache(join(tmp, 'worker-wait', '.kiln-cache'));
    const entry = (await fresh.get('pw', 'npm-w'))!;
    const sha = entry.sha256;
    // the copy has begun to download this entry when the build (leased meanwhile) restores it
    const get = fresh.backend.objects.get.bind(fresh.backend.objects);
    let downloading!: () => void;
    const started = new Promise<void>((r) => (downloading = r));
    const fetched: string[] = [];
    const spy = jest.spyOn(fresh.backend.objects, 'get').mockImplementation(async (name) => {
      fetched.push(name);
      if (name === entry.object) downloading();
      return get(name);
    });
    const stop = new AbortController();
    const copying = fresh.prefetch(local, { count: 10, maxBytes: 1 << 30, unpack: true, stopAfterEntry: stop.signal });
    await started;
    stop.abort(); // the lease: finish the entry in hand, then stop
    const ws = dirWith({});
    const r = await fresh.restore('pw', 'npm-w', [], ws, { local });
    const pf = await copying;
    spy.mockRestore();
    expect(r).toMatchObject({ result: 'hit', source: 'local' });
    expect(readFileSync(join(ws, 'node_modules/w/index.js'), 'utf8')).toBe('w1');
    // one download of it in all: the restore did not fetch the entry beside the copy
    expect(fetched.filter((o) => o === entry.object)).toHaveLength(1);
    expect(local.has(sha)).toBe(true);
    // and the copying stopped after it: what it had not begun stays uncopied
    expect(pf.copied).toBe(fetched.length);
    expect(fetched[fetched.length - 1]).toBe(entry.object);
  });

  it('with unpack, the first restore moves the unpacked tree in; later ones unpack the archive copy', async () => {
    await saver.save('pu', 'npm-2', dirWith({ 'node_modules/x/index.js': 'x2', 'node_modules/.bin/tool': '#!/bin/sh' }), ['node_modules']);
    const fresh = await CacheStore.open(worker, names);
    const local = new LocalCache(join(tmp, 'worker-unpack', '.kiln-cache'));
    await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30, unpack: true });
    const sha = (await fresh.get('pu', 'npm-2'))!.sha256;
    expect(existsSync(join(local.unpackedPath(sha), 'node_modules/x/index.js'))).toBe(true);
    const before = fresh.reads.store;
    for (const round of [1, 2]) {
      const ws = dirWith({ 'node_modules/own/keep.js': 'mine' });
      expect(await fresh.restore('pu', 'npm-2', [], ws, { local })).toMatchObject({ result: 'hit', source: 'local' });
      expect(readFileSync(join(ws, 'node_modules/x/index.js'), 'utf8')).toBe('x2');
      expect(readFileSync(join(ws, 'node_modules/own/keep.js'), 'utf8')).toBe('mine');
      expect(readdirSync(ws).sort()).toEqual(['node_modules']);
      expect(existsSync(local.unpackedPath(sha))).toBe(false); // used once, by round 1
      expect(local.has(sha)).toBe(true);
      expect(fresh.reads.local).toBe(round);
    }
    expect(fresh.reads.store).toBe(before);
  });

  it('uses the object store when the key now points at a newer entry than the copy', async () => {
    await saver.save('pc', 'k', dirWith({ 'out/v.txt': 'v1' }), ['out']);
    const fresh = await CacheStore.open(worker, names);
    const local = new LocalCache(join(tmp, 'worker-2', '.kiln-cache'));
    await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30 });
    const v1 = (await fresh.get('pc', 'k'))!.sha256;
    expect(local.has(v1)).toBe(true);
    await saver.save('pc', 'k', dirWith({ 'out/v.txt': 'v2' }), ['out']);
    const ws = dirWith({});
    const before = fresh.reads.store;
    const r = await fresh.restore('pc', 'k', [], ws, { local });
    expect(r).toMatchObject({ result: 'hit', source: 'store' });
    expect(fresh.reads.store).toBe(before + 1);
    expect(readFileSync(join(ws, 'out/v.txt'), 'utf8')).toBe('v2');
    // a later prefetch copies the new archive and drops the one no pointer names any more
    await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30 });
    expect(local.has((await fresh.get('pc', 'k'))!.sha256)).toBe(true);
    expect(local.has(v1)).toBe(false);
  });

  it('a damaged local copy is dropped and the entry is read from the object store instead', async () => {
    await saver.save('pd', 'k', dirWith({ 'lib/x.txt': 'good' }), ['lib']);
    const fresh = await CacheStore.open(worker, names);
    const local = new LocalCache(join(tmp, 'worker-3', '.kiln-cache'));
    await fresh.prefetch(local, { count: 10, maxBytes: 1 << 30 });
    const entry = (await fresh.get('pd', 'k'))!;
    writeFileSync(local.path(entry.sha256), readFileSync(local.path(entry.sha256)).subarray(0, 40)); // cut short
    const ws = dirWith({});
    const r = await fresh.restore('pd', 'k', [], ws, { local });
    expect(r).toMatchObject({ result: 'hit', source: 'store' });
    expect(readFileSync(join(ws, 'lib/x.txt'), 'utf8')).toBe('good');
    expect(local.has(entry.sha256)).toBe(false);
  });

  it('a corrupted object is not copied (checksum) and the others still are', async () => {
    const ns = kilnNames(testNamespace('cachepf2'));
    const s = await CacheStore.open(builder, ns);
    try {
      await s.save('pe', 'bad', dirWith({ 'f.txt': 'bad' }), ['f.txt']);
      await s.save('pe', 'good', dirWith({ 'f.txt': 'good' }), ['f.txt']);
      const bad = (await s.get('pe', 'bad'))!;
      await s.backend.objects.put(bad.object, Readable.from([Buffer.from('not the archive')]));
      const local = new LocalCache(join(tmp, 'worker-4', '.kiln-cache'));
      const pf = await (await CacheStore.open(worker, ns)).prefetch(local, { count: 10, maxBytes: 1 << 30 });
      expect(pf.copied).toBe(1);
      expect(pf.failed).toEqual([{ projectId: 'pe', key: 'bad', reason: expect.stringMatching(/sha256/) }]);
      expect((await local.list()).map((c) => c.sha256)).toEqual([(await s.get('pe', 'good'))!.sha256]);
    } finally {
      const jsm = await builder.jetstreamManager();
      await jsm.streams.delete(`OBJ_${ns.buckets.cache}`).catch(() => undefined);
      await jsm.streams.delete(`KV_${ns.buckets.cacheKeys}`).catch(() => undefined);
    }
  });

  it('an aborted prefetch rejects and leaves no partial file', async () => {
    await saver.save('pf', 'k', dirWith({ 'f.bin': 'z'.repeat(100_000) }), ['f.bin']);
    const local = new LocalCache(join(tmp, 'worker-5', '.kiln-cache'));
    const ac = new AbortController();
    ac.abort(new Error('warm-up deadline'));
    await expect((await CacheStore.open(worker, names)).prefetch(local, { count: 10, maxBytes: 1 << 30, signal: ac.signal })).rejects.toThrow(/deadline/);
    expect(await local.list()).toEqual([]);
  });

  it('reports both buckets as reachable', async () => {
    expect(await saver.status()).toMatch(new RegExp(`^cache reachable \\(object store ${names.buckets.cache}: \\d+ bytes; keys ${names.buckets.cacheKeys}: \\d+ entries\\)$`));
  });
});
