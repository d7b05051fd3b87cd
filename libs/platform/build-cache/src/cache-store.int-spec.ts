import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { connectNats } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { CacheStore } from './cache-store';
import { expandKey } from './cache-key';

describe('CacheStore on real NATS (Object Store + KV)', () => {
  const names = kilnNames(testNamespace('cache'));
  let nc: NatsConnection;
  let cache: CacheStore;
  let tmp: string;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'cache-test');
    cache = await CacheStore.open(nc, names);
    tmp = mkdtempSync(join(tmpdir(), 'kiln-cache-'));
  });
  afterAll(async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(`OBJ_${names.buckets.cache}`).catch(() => undefined);
    await jsm.streams.delete(`KV_${names.buckets.cacheKeys}`).catch(() => undefined);
    await nc.drain();
    rmSync(tmp, { recursive: true, force: true });
  });

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

  it('a corrupted object is detected by its checksum and treated as a miss, restoring nothing', async () => {
    await cache.save('p5', 'k', workspace({ 'lib/x.txt': 'good' }), ['lib']);
    const entry = (await cache.get('p5', 'k'))!;
    // damage the object behind the pointer: same name, other bytes (a valid tar.gz, even)
    const other = workspace({ 'lib/x.txt': 'evil' });
    const tgz = execFileSync('tar', ['-cz', '-f', '-', '-C', other, 'lib']);
    await cache.objectStore.putBlob({ name: entry.object }, new Uint8Array(tgz));
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

  it('expands key templates with hashFiles, branch and env', async () => {
    const dir = workspace({ 'package-lock.json': '{"v":1}', 'sub/yarn.lock': 'y' });
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('git', ['add', '-A'], { cwd: dir });
    const k1 = await expandKey("npm-${{ hashFiles('package-lock.json', '**/yarn.lock') }}-${{ branch }}-${{ env.NODE }}", { workspace: dir, branch: 'main', env: { NODE: '20' } });
    expect(k1).toMatch(/^npm-[0-9a-f]{64}-main-20$/);
    writeFileSync(join(dir, 'package-lock.json'), '{"v":2}');
    const k2 = await expandKey("npm-${{ hashFiles('package-lock.json', '**/yarn.lock') }}-${{ branch }}-${{ env.NODE }}", { workspace: dir, branch: 'main', env: { NODE: '20' } });
    expect(k2).not.toBe(k1);
    await expect(expandKey('${{ secrets.X }}', { workspace: dir, branch: null, env: {} })).rejects.toThrow(/unknown expression/);
  });
});
