import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ConcurrencyError } from '@kiln/contracts';
import { DirCacheBackend } from './dir-cache-backend';

const workspaceRoot = resolve(__dirname, '../../../..');

/**
 * A child process that opens the backend on `root` (from the TypeScript sources,
 * transpiled as it loads them), says it is ready (a file), waits for `<root>/go`, then
 * adds one to the counter under `key` `times` times by compare-and-set, retrying on
 * conflicts. Prints the revisions its updates created and the conflicts it met.
 */
const CHILD = `
const fs = require('node:fs');
const ts = require(require.resolve('typescript', { paths: [${JSON.stringify(workspaceRoot)}] }));
const base = require(${JSON.stringify(join(workspaceRoot, 'tsconfig.base.json'))});
require.extensions['.ts'] = (m, file) => {
  const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { ...ts.convertCompilerOptionsFromJson(base.compilerOptions, ${JSON.stringify(workspaceRoot)}).options, module: ts.ModuleKind.CommonJS },
  });
  m._compile(out.outputText, file);
};
require(require.resolve('tsconfig-paths', { paths: [${JSON.stringify(workspaceRoot)}] })).register({ baseUrl: ${JSON.stringify(workspaceRoot)}, paths: base.compilerOptions.paths });
const { DirCacheBackend } = require(${JSON.stringify(join(__dirname, 'dir-cache-backend.ts'))});
(async () => {
  const [root, key, times] = process.argv.slice(2);
  const { pointers } = await DirCacheBackend.open(root);
  fs.writeFileSync(root + '/ready-' + process.pid, '');
  while (!fs.existsSync(root + '/go')) await new Promise((r) => setTimeout(r, 2));
  const revisions = [];
  let conflicts = 0;
  for (let i = 0; i < Number(times); i++) {
    for (;;) {
      const e = await pointers.get(key);
      try {
        revisions.push(await pointers.update(key, JSON.stringify({ n: JSON.parse(e.value).n + 1 }), e.revision));
        break;
      } catch (err) {
        if (err.code !== 'CONCURRENCY') throw err;
        conflicts++;
      }
    }
  }
  process.stdout.write(JSON.stringify({ revisions, conflicts }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('the local-directory cache backend', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'kiln-dir-backend-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const counter = (e: { value: string } | null) => (e ? (JSON.parse(e.value) as { n: number }).n : 0);

  /** Adds one `times` times by compare-and-set, retrying on conflicts; returns the revisions written. */
  async function increment(pointers: DirCacheBackend['pointers'], key: string, times: number): Promise<number[]> {
    const revisions: number[] = [];
    for (let i = 0; i < times; i++) {
      for (;;) {
        const e = await pointers.get(key);
        try {
          revisions.push(await pointers.update(key, JSON.stringify({ n: counter(e) + 1 }), e!.revision));
          break;
        } catch (err) {
          if (!(err instanceof ConcurrencyError)) throw err;
        }
      }
    }
    return revisions;
  }

  it('compare-and-set: many concurrent updaters on one key lose no update and never win the same revision twice', async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => DirCacheBackend.open(tmp)));
    await stores[0].pointers.put('p.k', JSON.stringify({ n: 0 }));
    const revisions = (await Promise.all(stores.flatMap((s) => [1, 2, 3].map(() => increment(s.pointers, 'p.k', 20))))).flat();
    expect(counter(await stores[0].pointers.get('p.k'))).toBe(240);
    expect(new Set(revisions).size).toBe(240);
    expect((await stores[1].pointers.get('p.k'))!.revision).toBe(Math.max(...revisions));
  });

  it('compare-and-set: updaters in several processes on one host lose no update', async () => {
    const { pointers } = await DirCacheBackend.open(tmp);
    await pointers.put('p.k', JSON.stringify({ n: 0 }));
    const child = join(tmp, 'child.js');
    writeFileSync(child, CHILD);
    const run = promisify(execFile);
    const running = Promise.all([1, 2, 3, 4].map(() => run(process.execPath, [child, tmp, 'p.k', '50'], { timeout: 60_000 })));
    let failed: unknown = null;
    running.catch((e: unknown) => (failed = e));
    while (readdirSync(tmp).filter((f) => f.startsWith('ready-')).length < 4) {
      if (failed) throw failed;
      await new Promise((r) => setTimeout(r, 10));
    }
    writeFileSync(join(tmp, 'go'), ''); // all at once
    const outputs = (await running).map((o) => JSON.parse(o.stdout) as { revisions: number[]; conflicts: number });
    const revisions = outputs.flatMap((o) => o.revisions);
    expect(revisions).toHaveLength(200);
    expect(new Set(revisions).size).toBe(200);
    expect(counter(await pointers.get('p.k'))).toBe(200);
    expect(outputs.reduce((n, o) => n + o.conflicts, 0)).toBeGreaterThan(0); // they did race
  }, 90_000);

  it('an update from a stale revision, or of a key deleted since, is refused and writes nothing; revisions are not reused after a delete', async () => {
    const { pointers } = await DirCacheBackend.open(tmp);
    const r1 = await pointers.put('p.a', 'one');
    const r2 = await pointers.update('p.a', 'two', r1);
    expect(r2).toBeGreaterThan(r1);
    await expect(pointers.update('p.a', 'stale', r1)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await pointers.get('p.a')).toEqual({ value: 'two', revision: r2 });
    await pointers.delete('p.a');
    expect(await pointers.get('p.a')).toBeNull();
    await expect(pointers.update('p.a', 'back', r2)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await pointers.get('p.a')).toBeNull();
    const r3 = await pointers.put('p.a', 'again');
    expect(r3).toBeGreaterThan(r2);
    await pointers.delete('p.never'); // nothing there: no error
  });

  it('lists the keys holding a value, by project prefix, also keys too long for a file name', async () => {
    const { pointers } = await DirCacheBackend.open(tmp);
    const long = `p1.${'x'.repeat(400)}`;
    await pointers.put('p1.a', 'a');
    await pointers.put(long, 'long');
    await pointers.put('p10.b', 'b');
    await pointers.put('p1.gone', 'g');
    await pointers.delete('p1.gone');
    expect((await pointers.keys('p1.')).sort()).toEqual(['p1.a', long]);
    expect((await pointers.keys()).sort()).toEqual(['p1.a', long, 'p10.b']);
    expect((await pointers.get(long))?.value).toBe('long');
    await expect(pointers.keys('p1')).rejects.toThrow(/ends in "."/);
  });

  it('drops superseded revisions and deleted keys once past the grace, never the current one', async () => {
    const root = join(tmp, 'c');
    const { pointers } = await DirCacheBackend.open(root, { graceMs: 60_000 });
    const files = (k: string) => readdirSync(join(root, 'pointers', k)).sort();
    const age = (k: string) => {
      for (const f of files(k)) utimesSync(join(root, 'pointers', k, f), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    };
    await pointers.put('p.k', '1');
    await pointers.put('p.k', '2');
    expect(files('p.k')).toEqual(['1.json', '2.json']); // within the grace: a slow writer may still read 1
    age('p.k');
    await pointers.put('p.k', '3');
    expect(files('p.k')).toEqual(['2.json', '3.json']);
    expect((await pointers.get('p.k'))?.value).toBe('3');

    await pointers.put('p.d', 'x');
    await pointers.delete('p.d');
    await pointers.keys();
    expect(files('p.d')).toHaveLength(2);
    age('p.d');
    expect(await pointers.keys()).toEqual(['p.k']);
    expect(readdirSync(join(root, 'pointers'))).toEqual(['p.k']);
    expect(await pointers.put('p.d', 'y')).toBe(1); // the key starts over
  });

  it('an object appears only once whole; a failed write leaves nothing under its name', async () => {
    const { objects } = await DirCacheBackend.open(tmp);
    const source = new PassThrough();
    const putting = objects.put('entry/1', source);
    source.write(Buffer.alloc(100_000, 1));
    await new Promise((r) => setTimeout(r, 50));
    expect(await objects.get('entry/1')).toBeNull();
    expect(await objects.info('entry/1')).toBeNull();
    expect((await objects.list()).map((o) => o.name)).toEqual([expect.stringMatching(/^\.partial-/)]);
    source.end(Buffer.alloc(1000, 2));
    const info = await putting;
    expect(info).toMatchObject({ name: 'entry/1', size: 101_000, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await objects.list()).map((o) => o.name)).toEqual(['entry/1']);
    const read: Buffer[] = [];
    for await (const c of (await objects.get('entry/1'))!) read.push(c as Buffer);
    expect(Buffer.concat(read).length).toBe(101_000);
    expect(readFileSync(objects.path('entry/1')).length).toBe(101_000);

    const failing = new Readable({ read() {} });
    const failed = objects.put('entry/2', failing);
    failing.push(Buffer.alloc(10));
    failing.destroy(new Error('tar died'));
    await expect(failed).rejects.toThrow(/tar died/);
    expect((await objects.list()).map((o) => o.name)).toEqual(['entry/1']);
    await objects.delete('entry/1');
    await objects.delete('entry/1');
    expect(await objects.list()).toEqual([]);
  });

  it('watch reports puts made from now on by other openers, not deletes', async () => {
    const a = await DirCacheBackend.open(tmp);
    const b = await DirCacheBackend.open(tmp);
    await a.pointers.put('p.before', 'old');
    const seen: [string, string][] = [];
    const stop = await b.pointers.watch((k, v) => seen.push([k, v]));
    await a.pointers.put('p.new', 'n1');
    await a.pointers.put('p.before', 'changed');
    await a.pointers.delete('p.new');
    for (let i = 0; i < 100 && !seen.some(([k]) => k === 'p.before'); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    stop();
    expect(seen).toContainEqual(['p.before', 'changed']);
    expect(seen.filter(([k]) => k === 'p.new').every(([, v]) => v === 'n1')).toBe(true);
    expect(seen.some(([, v]) => v === 'old')).toBe(false);
  });
});
