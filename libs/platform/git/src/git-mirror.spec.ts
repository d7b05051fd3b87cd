import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkoutFromMirror, GitMirrors, LAST_FETCHED } from './git-mirror';
import { gitIn } from '@kiln/testing';

const git = gitIn;

describe('GitMirrors (real git)', () => {
  let root: string;
  let remote: string;
  let work: string;
  const shas: string[] = [];

  const commit = async (content: string) => {
    await writeFile(join(work, 'file.txt'), content);
    git(work, 'add', 'file.txt');
    git(work, 'commit', '--quiet', '-m', content);
    git(work, 'push', '--quiet', remote, 'HEAD:main');
    return git(work, 'rev-parse', 'HEAD');
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-mirror-'));
    remote = join(root, 'remote.git');
    work = join(root, 'work');
    git(root, 'init', '--quiet', '--bare', '-b', 'main', remote);
    git(root, 'init', '--quiet', '-b', 'main', work);
    for (const c of ['one\n', 'two\n', 'three\n']) shas.push(await commit(c));
  });

  afterAll(() => rm(root, { recursive: true, force: true }));

  it('fetches a commit once, then serves checkouts from it through alternates', async () => {
    const mirrors = new GitMirrors(join(root, 'm1'));
    expect(await mirrors.has(remote, shas[0])).toBe(false);
    const dir = await mirrors.ensure(remote, shas[0]);
    expect(await mirrors.has(remote, shas[0])).toBe(true);
    expect(git(dir, 'config', 'gc.auto')).toBe('0');

    const ws = join(root, 'ws1');
    await checkoutFromMirror(dir, shas[0], ws);
    expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('one\n');
    expect(git(ws, 'rev-parse', 'HEAD')).toBe(shas[0]);
    expect(git(ws, 'status', '--porcelain')).toBe('');
    // shallow like a depth-1 clone: history stops at the commit instead of failing
    expect(git(ws, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(git(ws, 'log', '--format=%s')).toBe('one');
    // the workspace holds no objects of its own: they are the mirror's
    expect(git(ws, 'count-objects')).toMatch(/^0 objects/);
  });

  it('fetches only what changed since the commit it fetched before, not the whole tree again', async () => {
    // a tree of 150 files: git keeps a fetched pack of 100 objects or more whole, so a fetch that
    // sent the whole tree again would leave a second full copy of it in the mirror
    const big = join(root, 'big-work');
    const bigRemote = join(root, 'big.git');
    git(root, 'init', '--quiet', '--bare', '-b', 'main', bigRemote);
    git(root, 'init', '--quiet', '-b', 'main', big);
    for (let i = 0; i < 150; i++) await writeFile(join(big, `f${i}.txt`), `file ${i}\n`);
    git(big, 'add', '.');
    git(big, 'commit', '--quiet', '-m', 'many files');
    git(big, 'push', '--quiet', bigRemote, 'HEAD:main');
    const first = git(big, 'rev-parse', 'HEAD');
    await writeFile(join(big, 'f7.txt'), 'changed\n');
    git(big, 'commit', '--quiet', '-am', 'one change');
    git(big, 'push', '--quiet', bigRemote, 'HEAD:main');
    const second = git(big, 'rev-parse', 'HEAD');

    const mirrors = new GitMirrors(join(root, 'm-incremental'));
    const dir = await mirrors.ensure(bigRemote, first);
    const objects = () => {
      const counts = Object.fromEntries(git(dir, 'count-objects', '-v').split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
      return counts.count + counts['in-pack'];
    };
    const afterFirst = objects();
    expect(afterFirst).toBeGreaterThanOrEqual(152);
    await mirrors.ensure(bigRemote, second);
    // the new commit, its tree and the changed file: 3 objects, not another 152
    expect(objects() - afterFirst).toBeLessThan(10);
    expect(git(dir, 'rev-parse', LAST_FETCHED)).toBe(second);
    const ws = join(root, 'ws-incremental');
    await checkoutFromMirror(dir, second, ws);
    expect(await readFile(join(ws, 'f7.txt'), 'utf8')).toBe('changed\n');
    expect(git(ws, 'status', '--porcelain')).toBe('');
  });

  it('keeps only the last fetched commit shallow: the list each fetch sends does not grow with every build', async () => {
    const mirrors = new GitMirrors(join(root, 'm-shallow'));
    let dir = '';
    for (const sha of shas) dir = await mirrors.ensure(remote, sha);
    expect((await readFile(join(dir, 'shallow'), 'utf8')).split('\n').filter(Boolean)).toEqual([shas[2]]);
    // every commit fetched before stays readable and checks out as before
    const ws = join(root, 'ws-shallow');
    await checkoutFromMirror(dir, shas[0], ws);
    expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('one\n');
    expect(git(ws, 'log', '--format=%s')).toBe('one');
    // a child of the last fetched commit is fetched on top of it, and what the refs reach is whole
    const fourth = await commit('four\n');
    await mirrors.ensure(remote, fourth);
    expect((await readFile(join(dir, 'shallow'), 'utf8')).trim()).toBe(fourth);
    expect(git(dir, 'fsck', '--connectivity-only', '--no-dangling')).toBe('');
  });

  it('a mirror removed by hand is fetched again, though this process saw the commit in it', async () => {
    const mirrors = new GitMirrors(join(root, 'm-removed'));
    const dir = await mirrors.ensure(remote, shas[0]);
    expect(await mirrors.has(remote, shas[0])).toBe(true);
    await rm(dir, { recursive: true, force: true });
    expect(await mirrors.has(remote, shas[0])).toBe(false);
    await mirrors.ensure(remote, shas[0]);
    expect(git(dir, 'cat-file', '-t', shas[0])).toBe('commit');
  });

  it('a checkout of a commit the mirror lacks fails (the caller fetches it then)', async () => {
    const mirrors = new GitMirrors(join(root, 'm-lacks'));
    const dir = await mirrors.ensure(remote, shas[0]);
    await expect(checkoutFromMirror(dir, shas[2], join(root, 'ws-lacks'))).rejects.toThrow();
  });

  describe('prepared workspaces', () => {
    it('a workspace prepared for a build is taken whole with a rename, once', async () => {
      const mirrors = new GitMirrors(join(root, 'm-prep'));
      await mirrors.prepare(remote, shas[1], 'build-1');
      const ws = join(root, 'taken', 'ws');
      expect(await mirrors.take('build-1', shas[1], ws)).toBe(true);
      expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('two\n');
      expect(git(ws, 'rev-parse', 'HEAD')).toBe(shas[1]);
      expect(git(ws, 'status', '--porcelain')).toBe('');
      // gone from the mirrors: a second worker finds nothing to take
      expect(await mirrors.take('build-1', shas[1], join(root, 'taken', 'ws2'))).toBe(false);
      expect(await readdir(join(mirrors.root, '.prepared'))).toEqual([]);
    });

    it('is not taken for another commit (and is removed), nor when none was prepared', async () => {
      const mirrors = new GitMirrors(join(root, 'm-prep2'));
      expect(await mirrors.take('build-x', shas[0], join(root, 'never'))).toBe(false);
      await mirrors.prepare(remote, shas[0], 'build-2');
      expect(await mirrors.take('build-2', shas[2], join(root, 'wrong'))).toBe(false);
      expect(existsSync(join(root, 'wrong'))).toBe(false);
      expect(await readdir(join(mirrors.root, '.prepared'))).toEqual([]);
    });

    it('a worker leased while the workspace is being prepared waits for it (inotify), and stops waiting when the preparation fails', async () => {
      const mirrors = new GitMirrors(join(root, 'm-prep4'));
      await mirrors.prepare(remote, shas[2], 'staging');
      const prepared = join(mirrors.root, '.prepared');
      await mkdir(join(prepared, 'build-4.preparing'));
      const taking = mirrors.take('build-4', shas[2], join(root, 'ws-4'), 60_000);
      await new Promise((r) => setTimeout(r, 150));
      await rename(join(prepared, 'staging'), join(prepared, 'build-4'));
      await rm(join(prepared, 'build-4.preparing'), { recursive: true });
      expect(await taking).toBe(true);
      expect(git(join(root, 'ws-4'), 'rev-parse', 'HEAD')).toBe(shas[2]);

      await mkdir(join(prepared, 'build-5.preparing'));
      const failing = mirrors.take('build-5', shas[2], join(root, 'ws-5'), 60_000); // would outlast the test's timeout if it waited
      await new Promise((r) => setTimeout(r, 150));
      await rm(join(prepared, 'build-5.preparing'), { recursive: true });
      expect(await failing).toBe(false);
    });

    it('a second preparation of the same build leaves the first to finish', async () => {
      const mirrors = new GitMirrors(join(root, 'm-prep5'));
      await Promise.all([mirrors.prepare(remote, shas[0], 'build-6'), mirrors.prepare(remote, shas[0], 'build-6')]);
      expect(await mirrors.take('build-6', shas[0], join(root, 'ws-6'), 5000)).toBe(true);
      expect(await readFile(join(root, 'ws-6', 'file.txt'), 'utf8')).toBe('one\n');
    });

    it('discards a workspace not taken, sweeps old leftovers, and refuses a key that is not one path segment', async () => {
      const mirrors = new GitMirrors(join(root, 'm-prep3'));
      await mirrors.prepare(remote, shas[0], 'build-3');
      await mirrors.discard('build-3');
      expect(await readdir(join(mirrors.root, '.prepared'))).toEqual([]);
      await mirrors.prepare(remote, shas[0], 'fresh');
      const old = join(mirrors.root, '.prepared', 'old.tmp-1-abcd');
      await mkdir(old);
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(old, hourAgo, hourAgo);
      expect(await mirrors.sweepPrepared(600_000)).toBe(1);
      expect(await readdir(join(mirrors.root, '.prepared'))).toEqual(['fresh']);
      await expect(mirrors.prepare(remote, shas[0], '../escape')).rejects.toThrow(/invalid prepared workspace key/);
    });
  });

  it('fetches a commit it has not seen without asking the mirror first, and trims the shallow list to it', async () => {
    let asked = 0;
    class Counting extends GitMirrors {
      override async has(repoUrl: string, sha: string): Promise<boolean> {
        asked++;
        return super.has(repoUrl, sha);
      }
    }
    const mirrors = new Counting(join(root, 'm-overlap'));
    await mirrors.ensure(remote, shas[0]);
    const dir = await mirrors.ensure(remote, shas[1]);
    expect(asked).toBe(0);
    expect(git(dir, 'cat-file', '-t', shas[1])).toBe('commit');
    expect(existsSync(`${dir}.lock`)).toBe(false);
    expect((await readFile(join(dir, 'shallow'), 'utf8')).split('\n').filter(Boolean)).toEqual([shas[1]]);
  });

  it('a mirror that answers yes while its own fetch is still writing the commit does not cut that fetch short', async () => {
    // git unpacks a small fetch into loose objects, the commit first: a look at the mirror during
    // the fetch can find the commit before its files. Here the mirror says yes before anything landed.
    class TooEarly extends GitMirrors {
      override async has(): Promise<boolean> {
        return true;
      }
    }
    const dir = await new TooEarly(join(root, 'm-too-early')).ensure(remote, shas[1]);
    expect(git(dir, 'rev-parse', LAST_FETCHED)).toBe(shas[1]);
    expect((await readFile(join(dir, 'shallow'), 'utf8')).split('\n').filter(Boolean)).toEqual([shas[1]]);
    expect(git(dir, 'fsck', '--connectivity-only', '--no-dangling')).toBe('');
    const ws = join(root, 'ws-too-early');
    await checkoutFromMirror(dir, shas[1], ws);
    expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('two\n');
  });

  it('serves a commit the mirror holds (seen by another process) when its fetch fails, the remote away, and leaves no lock', async () => {
    const root5 = join(root, 'm-held');
    const dir = await new GitMirrors(root5).ensure(remote, shas[0]);
    const shallow = await readFile(join(dir, 'shallow'), 'utf8');
    // the remote gone: a fetch would fail, so only the mirror's own answer can serve the commit
    await rename(remote, `${remote}.away`);
    try {
      const other = new GitMirrors(root5); // another process: it has not seen the commit
      expect(await other.ensure(remote, shas[0])).toBe(dir);
    } finally {
      await rename(`${remote}.away`, remote);
    }
    expect(existsSync(`${dir}.lock`)).toBe(false);
    expect(existsSync(join(dir, 'shallow.lock'))).toBe(false);
    expect(await readFile(join(dir, 'shallow'), 'utf8')).toBe(shallow);
    expect(git(dir, 'rev-parse', LAST_FETCHED)).toBe(shas[0]);
  });

  it('lets two processes fetch different commits of one repository at once', async () => {
    const a = new GitMirrors(join(root, 'm2'));
    const b = new GitMirrors(join(root, 'm2')); // another process: its own in-flight map
    await Promise.all([a.ensure(remote, shas[1]), b.ensure(remote, shas[2]), a.ensure(remote, shas[2])]);
    expect(await a.has(remote, shas[1])).toBe(true);
    expect(await b.has(remote, shas[2])).toBe(true);
    expect(existsSync(`${a.dirFor(remote)}.lock`)).toBe(false);
  });

  it('waits for another process holding the lock, then fetches', async () => {
    const mirrors = new GitMirrors(join(root, 'm3'));
    await mirrors.ensure(remote, shas[0]); // creates root and mirror
    const lock = `${mirrors.dirFor(remote)}.lock`;
    await writeFile(lock, 'another process\n');
    let released = false;
    const fetched = mirrors.ensure(remote, shas[1]).then((d) => ({ d, releasedFirst: released }));
    await new Promise((r) => setTimeout(r, 200));
    released = true;
    await rm(lock);
    const { releasedFirst } = await fetched;
    expect(releasedFirst).toBe(true);
    expect(await mirrors.has(remote, shas[1])).toBe(true);
  });

  it('waits for a lock whose holder fetches the very commit asked for, rather than believe the mirror meanwhile', async () => {
    const mirrors = new GitMirrors(join(root, 'm-same'));
    const dir = await mirrors.ensure(remote, shas[0]);
    // another process fetches shas[1]: its commit object may be in before its files
    git(dir, 'fetch', '--quiet', '--no-write-fetch-head', '--depth', '1', remote, shas[1]);
    const lock = `${dir}.lock`;
    await writeFile(lock, `4242 ${new Date().toISOString()} ${shas[1]}\n`);
    let released = false;
    const other = new GitMirrors(join(root, 'm-same')); // has not seen shas[1]
    const served = other.ensure(remote, shas[1]).then(() => released);
    await new Promise((r) => setTimeout(r, 200));
    released = true;
    await rm(lock);
    expect(await served).toBe(true);
    // a lock naming another commit does not hold up a commit the mirror has
    await writeFile(lock, `4242 ${new Date().toISOString()} ${shas[2]}\n`);
    try {
      expect(await new GitMirrors(join(root, 'm-same')).ensure(remote, shas[1])).toBe(dir);
    } finally {
      await rm(lock);
    }
  });

  it('breaks a lock left by a process that died mid-fetch', async () => {
    const mirrors = new GitMirrors(join(root, 'm4'), { staleLockMs: 0 });
    await mirrors.ensure(remote, shas[0]);
    await writeFile(`${mirrors.dirFor(remote)}.lock`, 'dead\n');
    await new Promise((r) => setTimeout(r, 5));
    await expect(mirrors.ensure(remote, shas[2])).resolves.toBe(mirrors.dirFor(remote));
  });

  it('gives up with a reason when the lock never goes', async () => {
    const mirrors = new GitMirrors(join(root, 'm5'), { waitMs: 100 });
    await mirrors.ensure(remote, shas[0]);
    await writeFile(`${mirrors.dirFor(remote)}.lock`, 'stuck\n');
    await expect(mirrors.ensure(remote, shas[1])).rejects.toThrow(/stayed locked for 100 ms/);
  });

  describe('a repository on this host, borrowed (borrowLocal)', () => {
    const lastFetched = (dir: string) => {
      try {
        return git(dir, 'rev-parse', '--verify', '--quiet', LAST_FETCHED);
      } catch {
        return null;
      }
    };

    it('serves a newly pushed commit from the repository itself, fetching nothing, and checks it out whole', async () => {
      const mirrors = new GitMirrors(join(root, 'b1'), { objectReaders: true, borrowLocal: true });
      try {
        const first = await commit('borrowed one\n');
        const dir = await mirrors.ensure(remote, first);
        expect((await readFile(join(dir, 'objects', 'info', 'alternates'), 'utf8')).trim()).toBe(join(remote, 'objects'));
        // nothing went through git's transport: no fetched ref, no shallow list, no objects of the mirror's own
        expect(lastFetched(dir)).toBeNull();
        expect(existsSync(join(dir, 'shallow'))).toBe(false);
        expect(git(dir, 'count-objects')).toMatch(/^0 objects/);
        // a commit pushed after the mirror's reader started is found through the alternates too
        const second = await commit('borrowed two\n');
        await mirrors.prepare(remote, second, 'build-b1');
        const ws = join(root, 'ws-b1');
        expect(await mirrors.take('build-b1', second, ws)).toBe(true);
        expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('borrowed two\n');
        expect(git(ws, 'rev-parse', 'HEAD')).toBe(second);
        expect(git(ws, 'status', '--porcelain')).toBe('');
        expect(git(ws, 'log', '--format=%s')).toBe('borrowed two');
        expect(lastFetched(dir)).toBeNull();
      } finally {
        mirrors.close();
      }
    });

    it('borrows from a working copy too, and starts borrowing in a mirror that fetched before', async () => {
      const m = join(root, 'b2');
      const before = await new GitMirrors(m).ensure(work, shas[0]); // fetched: borrowing was off
      expect(lastFetched(before)).toBe(shas[0]);
      const mirrors = new GitMirrors(m, { objectReaders: true, borrowLocal: true });
      try {
        expect(await mirrors.has(work, shas[0])).toBe(true); // its reader starts before the alternates are written
        const next = await commit('borrowed from a working copy\n');
        expect(await mirrors.ensure(work, next)).toBe(before);
        expect(await mirrors.has(work, next)).toBe(true);
        expect((await readFile(join(before, 'objects', 'info', 'alternates'), 'utf8')).trim()).toBe(join(work, '.git', 'objects'));
        expect(lastFetched(before)).toBe(shas[0]);
        const ws = join(root, 'ws-b2');
        await checkoutFromMirror(before, next, ws);
        expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('borrowed from a working copy\n');
      } finally {
        mirrors.close();
      }
    });

    it('a preparation of a commit the repository lacks fails without harm, and the next one is served', async () => {
      const mirrors = new GitMirrors(join(root, 'b4'), { objectReaders: true, borrowLocal: true });
      try {
        await mirrors.ensure(remote, shas[0]); // the mirror now borrows: preparations skip the lookup
        await expect(mirrors.prepare(remote, 'd'.repeat(40), 'build-b4-missing')).rejects.toThrow();
        expect(await mirrors.take('build-b4-missing', 'd'.repeat(40), join(root, 'ws-b4-missing'), 50)).toBe(false);
        const next = await commit('after a missing one\n');
        await mirrors.prepare(remote, next, 'build-b4');
        const ws = join(root, 'ws-b4');
        expect(await mirrors.take('build-b4', next, ws)).toBe(true);
        expect(await readFile(join(ws, 'file.txt'), 'utf8')).toBe('after a missing one\n');
        expect(git(ws, 'status', '--porcelain')).toBe('');
      } finally {
        mirrors.close();
      }
    });

    it('fetches a file:// URL through git as git does, and fails on a commit the repository lacks as a fetch would', async () => {
      const mirrors = new GitMirrors(join(root, 'b3'), { borrowLocal: true });
      const url = `file://${remote}`;
      const dir = await mirrors.ensure(url, shas[1]);
      expect(lastFetched(dir)).toBe(shas[1]);
      expect(existsSync(join(dir, 'objects', 'info', 'alternates'))).toBe(false);
      await expect(mirrors.ensure(remote, 'e'.repeat(40))).rejects.toThrow(/git fetch failed/);
    });
  });

  it('rejects what it cannot serve: an abbreviated sha, an unknown commit', async () => {
    const mirrors = new GitMirrors(join(root, 'm6'));
    await expect(mirrors.ensure(remote, shas[0].slice(0, 7))).rejects.toThrow(/needs a full commit sha/);
    await expect(mirrors.ensure(remote, 'f'.repeat(40))).rejects.toThrow(/git fetch failed/);
  });
});
