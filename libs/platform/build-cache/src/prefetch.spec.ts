import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CacheEntry } from './cache-store';
import { moveInto } from './move-into';
import { choosePrefetch } from './prefetch';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const ago = (hours: number) => new Date(NOW - hours * 3600_000).toISOString();
const entry = (key: string, hits: number, lastUsedHoursAgo: number, size = 100, sha = key.padEnd(64, '0')): CacheEntry => ({
  projectId: 'p',
  key,
  object: `entry/${key}`,
  sha256: sha,
  size,
  createdAt: ago(lastUsedHoursAgo + 1),
  lastUsedAt: ago(lastUsedHoursAgo),
  hits,
});

describe('choosePrefetch', () => {
  it('takes the most hit entries first, then the most recently used, up to the count', () => {
    const entries = [entry('a', 1, 1), entry('b', 9, 5), entry('c', 1, 0), entry('d', 4, 2)];
    expect(choosePrefetch(entries, { count: 3, maxBytes: 1e9, now: NOW }).map((e) => e.key)).toEqual(['b', 'd', 'c']);
  });

  it('leaves out entries not used lately, however often they were hit', () => {
    const entries = [entry('stale', 500, 24 * 30), entry('fresh', 0, 1)];
    expect(choosePrefetch(entries, { count: 5, maxBytes: 1e9, now: NOW }).map((e) => e.key)).toEqual(['fresh']);
  });

  it('keeps within the byte budget, skipping an entry too big for what is left', () => {
    const entries = [entry('big', 9, 1, 700), entry('huge', 8, 1, 5000), entry('small', 1, 1, 300), entry('more', 0, 1, 10)];
    expect(choosePrefetch(entries, { count: 10, maxBytes: 1000, now: NOW }).map((e) => e.key)).toEqual(['big', 'small']);
  });

  it('copies one archive once when two keys point at the same bytes, and none when the count is 0', () => {
    const entries = [entry('x', 3, 1, 100, 'f'.repeat(64)), entry('y', 2, 1, 100, 'f'.repeat(64))];
    expect(choosePrefetch(entries, { count: 5, maxBytes: 1e9, now: NOW }).map((e) => e.key)).toEqual(['x']);
    expect(choosePrefetch(entries, { count: 0, maxBytes: 1e9, now: NOW })).toEqual([]);
  });
});

describe('moveInto', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'kiln-move-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));
  const write = (p: string, c: string) => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, c);
  };

  it('merges folders present on both sides, replaces files, and empties the source', async () => {
    const from = join(tmp, 'from');
    const to = join(tmp, 'to');
    write(join(from, 'node_modules/a/index.js'), 'new a');
    write(join(from, 'node_modules/b/index.js'), 'b');
    write(join(from, 'top.txt'), 'new top');
    write(join(to, 'node_modules/a/index.js'), 'old a');
    write(join(to, 'node_modules/keep/x.js'), 'kept');
    write(join(to, 'top.txt'), 'old top');
    await moveInto(from, to);
    expect(readFileSync(join(to, 'node_modules/a/index.js'), 'utf8')).toBe('new a');
    expect(readFileSync(join(to, 'node_modules/b/index.js'), 'utf8')).toBe('b');
    expect(readFileSync(join(to, 'node_modules/keep/x.js'), 'utf8')).toBe('kept');
    expect(readFileSync(join(to, 'top.txt'), 'utf8')).toBe('new top');
    expect(existsSync(join(from, 'node_modules/b'))).toBe(false);
    expect(readdirSync(from)).toEqual(['node_modules']);
  });
});
