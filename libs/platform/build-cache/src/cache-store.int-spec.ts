import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { connectNats } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { CacheEntry, CacheStore, CacheStoreOptions } from './cache-store';
import { expandKey } from './cache-key';
import { DirCacheBackend } from './dir-cache-backend';

/** One backend under test: stores on the same storage, a way to damage an object, and cleanup. */
interface Backend {
  open(opts?: CacheStoreOptions): Promise<CacheStore>;
  /** Replaces the bytes of an object behind the cache's back. */
  corrupt(object: string, bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

async function natsBackend(): Promise<Backend> {
  const names = kilnNames(testNamespace('cache'));
  const nc: NatsConnection = await connectNats(testNatsUrl(), 'cache-test');
  const open = (opts?: CacheStoreOptions) => CacheStore.open(nc, names, 1, opts);
  const store = await open();
  return {
    open,
    // same name, other bytes, through the store's own API: its digest matches the new bytes
    corrupt: async (object, bytes) => void (await store.backend.objects.put(object, Readable.from([bytes]))),
    close: async () => {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete(`OBJ_${names.buckets.cache}`).catch(() => undefined);
      await jsm.streams.delete(`KV_${names.buckets.cacheKeys}`).catch(() => undefined);
      await nc.drain();
    },
  };
}

async function dirBackend(): Promise<Backend> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-cache-dir-'));
  const backend = await DirCacheBackend.open(root);
  return {
    // a fresh backend on the same folder each time, as another process would open it
    open: async (opts) => new CacheStore(await DirCacheBackend.open(root), opts),
    corrupt: async (object, bytes) => writeFileSync(backend.objects.path(object), bytes),
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
}

let tmp: string;
beforeAll(() => (tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-'))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const workspace = (files: Record<string, string>) => {
  const dir = join(tmp, `ws${++n}`);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe.each([
  ['real NATS (Object Store + KV)', natsBackend],
  ['a local directory', dirBackend],
])('CacheStore on %s', (_name, setUp) => {
  let backend: Backend;
  let cache: CacheStore;

  beforeAll(async () => {
    backend = await setUp();
    cache = await backend.open();
  });
  afterAll(() => backend.close());

  it('saves and restores an exact key (a hit), with files and folders intact', async () => {
    const src = workspace({ 'node_modules/a/index.js': 'module.exports = 1', 'node_modules/b/x.txt': 'x'.repeat(100_000) });
    const saved = await cache.save('p1', 'npm-abc', src, ['node_modules', 'not-there']);
    expect(saved.saved).toBe(true);
    expect(saved.bytes).toBeGreaterThan(0);
    const dst = workspace({});
    const r = await cache.restore('p1', 'npm-abc', [], dst);
    expect(r).toMatchObject({ result: 'hit', matchedKey: 'npm-abc' });
    expect(readFileSync(join(dst, 'node_modules/a/index.js'), 'utf8')).toBe('module.exports = 1');
    expect(readFileSync(join(dst, 'node_modules/b/x.txt'), 'utf8')).toHaveLength(100_000);
    expect((await cache.get('p1', 'npm-abc'))?.hits).toBe(1);
  });

  it('a missing key with restoreKeys gives the newest entry with that prefix (partial); none gives a miss', async () => {
    await cache.save('p2', 'deps-linux-old', workspace({ 'd/v.txt': 'old' }), ['d']);
    await new Promise((r) => setTimeout(r, 5));
    await cache.save('p2', 'deps-linux-new', workspace({ 'd/v.txt': 'new' }), ['d']);
    await cache.save('p2', 'other-key', workspace({ 'd/v.txt': 'other' }), ['d']);
    const dst = workspace({});
    const r = await cache.restore('p2', 'deps-linux-missing', ['deps-mac-', 'deps-linux-'], dst);
    expect(r).toMatchObject({ result: 'partial', matchedKey: 'deps-linux-new' });
    expect(readFileSync(join(dst, 'd/v.txt'), 'utf8')).toBe('new');
    const miss = await cache.restore('p2', 'nothing', ['nope-'], workspace({}));
    expect(miss.result).toBe('miss');
    // projects never see each other's entries
    expect((await cache.restore('p3', 'deps-linux-new', [], workspace({}))).result).toBe('miss');
  });

  it('two concurrent saves of one key both succeed and a reader gets one whole archive', async () => {
    const a = workspace({ 'out/file.txt': 'A'.repeat(300_000) });
    const b = workspace({ 'out/file.txt': 'B'.repeat(300_000) });
    const [ra, rb] = await Promise.all([cache.save('p4', 'k', a, ['out']), cache.save('p4', 'k', b, ['out'])]);
    expect(ra.saved && rb.saved).toBe(true);
    const dst = workspace({});
    expect((await cache.restore('p4', 'k', [], dst)).result).toBe('hit');
    const text = readFileSync(join(dst, 'out/file.txt'), 'utf8');
    expect(text === 'A'.repeat(300_000) || text === 'B'.repeat(300_000)).toBe(true);
  });

  it('a restore while the key is being saved again gets the previous archive or the new one, whole; the replaced object is collected after the grace', async () => {
    const v1 = workspace({ 'out/file.txt': '1'.repeat(2_000_000) });
    const v2 = workspace({ 'out/file.txt': '2'.repeat(2_000_000) });
    await cache.save('p7', 'k', v1, ['out']);
    const before = (await cache.get('p7', 'k'))!.object;
    const dsts = [workspace({}), workspace({}), workspace({})];
    const [saved, ...restored] = await Promise.all([cache.save('p7', 'k', v2, ['out']), ...dsts.map((d) => cache.restore('p7', 'k', [], d))]);
    expect(saved.saved).toBe(true);
    for (const [i, r] of restored.entries()) {
      expect(r.result).toBe('hit');
      const text = readFileSync(join(dsts[i], 'out/file.txt'), 'utf8');
      expect(text === '1'.repeat(2_000_000) || text === '2'.repeat(2_000_000)).toBe(true);
    }
    const after = (await cache.get('p7', 'k'))!.object;
    expect(after).not.toBe(before);
    const objects = async () => (await cache.backend.objects.list()).map((o) => o.name);
    await cache.collectOrphans(); // within the grace: a reader may still be streaming it
    expect(await objects()).toContain(before);
    await cache.collectOrphans(Date.now() + 11 * 60_000);
    expect(await objects()).not.toContain(before);
    expect(await objects()).toContain(after);
    expect(await cache.backend.objects.info(before)).toBeNull();
    expect((await cache.backend.objects.info(after))?.size).toBe((await cache.get('p7', 'k'))!.size);
    expect((await cache.restore('p7', 'k', [], workspace({}))).result).toBe('hit');
  });

  it("a key saved again or evicted while a restore of it runs stays so: the restore's use count does not bring the old entry back", async () => {
    const big = () => workspace({ 'blob.bin': randomBytes(6_000_000).toString('base64') }); // incompressible: a restore takes a while
    await cache.save('p8', 'saved-again', big(), ['blob.bin']);
    const restoring = cache.restore('p8', 'saved-again', [], workspace({}));
    await new Promise((r) => setTimeout(r, 20));
    await cache.save('p8', 'saved-again', workspace({ 'blob.bin': 'new' }), ['blob.bin']);
    const newer = (await cache.get('p8', 'saved-again'))!;
    await restoring;
    expect((await cache.get('p8', 'saved-again'))!.object).toBe(newer.object);

    // evicted: its object goes too, and a read of chunks deleted under it would wait forever
    const guarded = await backend.open({ stallMs: 500 });
    for (const delay of [0, 10, 50]) {
      await cache.save('p8', 'evicted', big(), ['blob.bin']);
      const dst = workspace({});
      const restoring2 = guarded.restore('p8', 'evicted', [], dst);
      await new Promise((r) => setTimeout(r, delay));
      expect(await cache.evict('p8', 'evicted')).toBe(true);
      const r = await restoring2;
      if (r.result === 'miss') {
        expect(r.reason).toMatch(/stopped arriving|missing/);
        expect(existsSync(join(dst, 'blob.bin'))).toBe(false);
      }
      expect(await cache.get('p8', 'evicted')).toBeNull();
    }
  });

  it('concurrent restores of one entry each count their use', async () => {
    await cache.save('p9', 'k', workspace({ 'a.txt': 'a' }), ['a.txt']);
    const results = await Promise.all([1, 2, 3].map(() => cache.restore('p9', 'k', [], workspace({}))));
    expect(results.map((r) => r.result)).toEqual(['hit', 'hit', 'hit']);
    expect((await cache.get('p9', 'k'))!.hits).toBe(3);
  });

  it('a corrupted object is detected by its checksum and treated as a miss, restoring nothing', async () => {
    await cache.save('p5', 'k', workspace({ 'lib/x.txt': 'good' }), ['lib']);
    const entry = (await cache.get('p5', 'k'))!;
    // damage the object behind the pointer: same name, other bytes (a valid tar.gz, even)
    const other = workspace({ 'lib/x.txt': 'evil' });
    await backend.corrupt(entry.object, execFileSync('tar', ['-cz', '-f', '-', '-C', other, 'lib']));
    const dst = workspace({});
    const r = await cache.restore('p5', 'k', [], dst);
    expect(r.result).toBe('miss');
    expect(r.result === 'miss' && r.reason).toMatch(/corrupted/);
    expect(existsSync(join(dst, 'lib/x.txt'))).toBe(false);
  });

  it('evicts least recently used entries past the size limit and entries past the age limit', async () => {
    const big = (c: string) => workspace({ 'f.bin': c.repeat(50_000) + Math.random() });
    await cache.save('p6', 'one', big('1'), ['f.bin']);
    await cache.save('p6', 'two', big('2'), ['f.bin']);
    await cache.save('p6', 'three', big('3'), ['f.bin']);
    await cache.restore('p6', 'one', [], workspace({})); // "one" is now the most recently used
    const sizes = (await cache.list('p6')).map((e) => e.size);
    const limit = sizes.reduce((a, b) => a + b, 0) - 1; // one entry too many
    const evicted = await cache.enforceLimits('p6', { maxBytes: limit, maxAgeMs: 3_600_000 });
    expect(evicted).toEqual(['two']);
    expect((await cache.list('p6')).map((e) => e.key).sort()).toEqual(['one', 'three']);
    const aged = await cache.enforceLimits('p6', { maxBytes: 1e12, maxAgeMs: 1000, now: Date.now() + 60_000 });
    expect(aged.sort()).toEqual(['one', 'three']);
    expect(await cache.list('p6')).toEqual([]);
  });

  it("sweeps every project: an idle project's old entries age out and each project is kept within its size", async () => {
    const file = (c: string) => workspace({ 'f.bin': c.repeat(50_000) + Math.random() });
    await cache.save('idle', 'old', file('o'), ['f.bin']);
    await cache.save('busy', 'a', file('a'), ['f.bin']);
    await cache.save('busy', 'b', file('b'), ['f.bin']);
    await cache.restore('busy', 'a', [], workspace({}));
    const future = Date.now() + 60_000;
    // "a" is used again just before the sweep; "b" is the least recently used of "busy"
    const busy = await cache.list('busy');
    const limit = busy.reduce((n, e) => n + e.size, 0) - 1;
    const evicted = await cache.enforceAllLimits({ maxBytes: limit, maxAgeMs: 30_000, now: Date.parse((await cache.get('busy', 'a'))!.lastUsedAt) + 1 });
    expect(evicted).toContainEqual({ projectId: 'busy', key: 'b' });
    expect(evicted).not.toContainEqual({ projectId: 'busy', key: 'a' });
    expect((await cache.list('busy')).map((e) => e.key)).toEqual(['a']);
    const aged = await cache.enforceAllLimits({ maxBytes: 1e12, maxAgeMs: 30_000, now: future });
    expect(aged).toEqual(expect.arrayContaining([{ projectId: 'idle', key: 'old' }, { projectId: 'busy', key: 'a' }]));
    expect(await cache.list('idle')).toEqual([]);
  });

  it('tells another store on the same storage of each save, not of restores or evictions', async () => {
    const other = await backend.open();
    const saved: CacheEntry[] = [];
    const stop = await other.watchSaves((e) => saved.push(e));
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
    };
    try {
      await cache.save('w1', 'k1', workspace({ 'a.txt': 'a' }), ['a.txt']);
      await until(() => saved.length > 0);
      expect(saved.map((e) => [e.projectId, e.key])).toEqual([['w1', 'k1']]);
      expect((await cache.restore('w1', 'k1', [], workspace({}))).result).toBe('hit');
      await cache.evict('w1', 'k1');
      await cache.save('w1', 'k2', workspace({ 'b.txt': 'b' }), ['b.txt']);
      await until(() => saved.length > 1);
      await new Promise((r) => setTimeout(r, 200)); // anything late would arrive by now
      expect(saved.map((e) => e.key)).toEqual(['k1', 'k2']);
    } finally {
      stop();
    }
    await cache.save('w1', 'k3', workspace({ 'c.txt': 'c' }), ['c.txt']);
    await new Promise((r) => setTimeout(r, 200));
    expect(saved).toHaveLength(2);
  });

  it('answers a status check', async () => {
    expect(await cache.status()).toMatch(/^cache reachable \(.+\)$/);
  });
});

describe('cache key templates', () => {
  it('expands key templates with hashFiles, branch and env', async () => {
    const dir = workspace({ 'package-lock.json': '{"v":1}', 'sub/yarn.lock': 'y' });
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('git', ['add', '-A'], { cwd: dir });
    const k1 = await expandKey("npm-${{ hashFiles('package-lock.json', '**/yarn.lock') }}-${{ branch }}-${{ env.NODE }}", { workspace: dir, branch: 'main', env: { NODE: '20' } });
    expect(k1).toMatch(/^npm-[0-9a-f]{64}-main-20$/);
    writeFileSync(join(dir, 'package-lock.json'), '{"v":2}');
    const k2 = await expandKey("npm-${{ hashFiles('package-lock.json', '**/yarn.lock') }}-${{ branch }}-${{ env.NODE }}", { workspace: dir, branch: 'main', env: { NODE: '20' } });
    expect(k2).not.toBe(k1);
    // a file an earlier step wrote counts (unless ignored); a deleted one is left out
    writeFileSync(join(dir, '.gitignore'), 'ignored.lock\n');
    writeFileSync(join(dir, 'generated.lock'), 'g1');
    writeFileSync(join(dir, 'ignored.lock'), 'i1');
    const gen = (ctx = { workspace: dir, branch: null, env: {} }) => expandKey("${{ hashFiles('*.lock') }}", ctx);
    const g1 = await gen();
    expect(g1).toMatch(/^[0-9a-f]{64}$/);
    writeFileSync(join(dir, 'generated.lock'), 'g2');
    const g2 = await gen();
    expect(g2).not.toBe(g1);
    writeFileSync(join(dir, 'ignored.lock'), 'i2');
    expect(await gen()).toBe(g2);
    rmSync(join(dir, 'sub/yarn.lock'));
    const k3 = await expandKey("npm-${{ hashFiles('package-lock.json', '**/yarn.lock') }}", { workspace: dir, branch: null, env: {} });
    expect(k3).toMatch(/^npm-[0-9a-f]{64}$/);
    expect(k3).not.toBe(k2.split('-main-')[0]);
    expect(await expandKey("x${{ hashFiles('sub/yarn.lock') }}", { workspace: dir, branch: null, env: {} })).toBe('x');
    await expect(expandKey('${{ secrets.X }}', { workspace: dir, branch: null, env: {} })).rejects.toThrow(/unknown expression/);
  });
});
