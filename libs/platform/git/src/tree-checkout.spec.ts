import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitIn } from '@kiln/testing';
import { checkoutFromMirror, GitMirrors } from './git-mirror';
import { GitObjectReader } from './object-reader';
import { checkoutTree, NeedsGitCheckout } from './tree-checkout';

const git = gitIn;

/** Every path under `dir` but `.git`, with its kind, permission bits and content: what a checkout left. */
async function snapshot(dir: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, rel))).sort()) {
    if (rel === '' && name === '.git') continue;
    const p = join(rel, name);
    const s = await lstat(join(dir, p));
    if (s.isSymbolicLink()) out[p] = `link -> ${await readlink(join(dir, p))}`;
    else if (s.isDirectory()) Object.assign(out, { [p]: 'dir' }, await snapshot(dir, p));
    else out[p] = `file ${(s.mode & 0o777).toString(8)} ${(await readFile(join(dir, p))).toString('base64')}`;
  }
  return out;
}

describe('checkout without spawning git (object reader + tree checkout, real git)', () => {
  let root: string;
  let repo: string;
  let sha: string;
  let reader: GitObjectReader;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-tree-'));
    repo = join(root, 'repo');
    git(root, 'init', '--quiet', '-b', 'main', repo);
    // names that sort differently as paths than as tree entries ('a-b' < 'a/' < 'a.b' < 'a0' in bytes)
    await mkdir(join(repo, 'a', 'deep', 'er'), { recursive: true });
    await writeFile(join(repo, 'a', 'x.txt'), 'in a\n');
    await writeFile(join(repo, 'a', 'deep', 'er', 'y.txt'), 'deep\n');
    await writeFile(join(repo, 'a-b'), 'dash\n');
    await writeFile(join(repo, 'a.b'), 'dot\n');
    await writeFile(join(repo, 'a0'), 'zero\n');
    await writeFile(join(repo, 'empty'), '');
    await writeFile(join(repo, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(join(repo, 'ünïcode näme.txt'), 'utf-8\n');
    await symlink('a/x.txt', join(repo, 'link'));
    // bigger than one pipe read, and binary
    await writeFile(join(repo, 'big.bin'), Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7919) % 256)));
    // more files than the reads kept in flight at once
    await mkdir(join(repo, 'many'));
    for (let i = 0; i < 150; i++) await writeFile(join(repo, 'many', `f${i}.txt`), `file ${i}\n`);
    git(repo, 'add', '-A');
    // a submodule entry (a gitlink), as a repository with submodules has
    git(repo, 'update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},sub`);
    git(repo, 'commit', '--quiet', '-m', 'tree');
    sha = git(repo, 'rev-parse', 'HEAD');
    reader = new GitObjectReader(join(repo, '.git'));
  });

  afterAll(async () => {
    reader.close();
    await rm(root, { recursive: true, force: true });
  });

  it('leaves the same files and the same index as git read-tree, and git status is clean', async () => {
    const byGit = join(root, 'by-git');
    const byReader = join(root, 'by-reader');
    await checkoutFromMirror(join(repo, '.git'), sha, byGit);
    await checkoutFromMirror(join(repo, '.git'), sha, byReader, undefined, reader);

    expect(await snapshot(byReader)).toEqual(await snapshot(byGit));
    expect((await snapshot(byReader))['run.sh']).toMatch(/^file 7[57]5 /);
    expect((await snapshot(byReader))['link']).toBe('link -> a/x.txt');
    expect((await snapshot(byReader))['sub']).toBe('dir');
    // same entries, modes, ids and order in the index
    expect(git(byReader, 'ls-files', '--stage')).toBe(git(byGit, 'ls-files', '--stage'));
    expect(git(byReader, 'ls-files', '--stage')).toContain(`160000 ${'1'.repeat(40)} 0\tsub`);
    // the stat data is right: nothing to refresh, nothing changed, nothing untracked
    expect(git(byReader, 'status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(git(byReader, 'diff-files', '--name-only')).toBe('');
    expect(git(byReader, 'diff-index', '--cached', '--name-only', 'HEAD')).toBe('');
    // git accepts the index as its own
    expect(git(byReader, 'fsck', '--no-dangling', '--cache')).toBe('');
  });

  it('a changed file shows in git status afterwards (the index holds real stat data)', async () => {
    const ws = join(root, 'changed');
    await checkoutFromMirror(join(repo, '.git'), sha, ws, undefined, reader);
    await writeFile(join(ws, 'a', 'x.txt'), 'changed\n');
    await rm(join(ws, 'a0'));
    // (the helper trims its output: the first line's leading status column goes)
    expect(git(ws, 'status', '--porcelain').split('\n').map((l) => l.trim()).sort()).toEqual(['D a0', 'M a/x.txt']);
  });

  it('reads objects committed after the reader started', async () => {
    await writeFile(join(repo, 'later.txt'), 'later\n');
    git(repo, 'add', 'later.txt');
    git(repo, 'commit', '--quiet', '-m', 'later');
    const later = git(repo, 'rev-parse', 'HEAD');
    const ws = join(root, 'later');
    await checkoutFromMirror(join(repo, '.git'), later, ws, undefined, reader);
    expect(await readFile(join(ws, 'later.txt'), 'utf8')).toBe('later\n');
    expect(git(ws, 'status', '--porcelain')).toBe('');
    git(repo, 'reset', '--quiet', '--hard', sha);
  });

  it('leaves a tree with .gitattributes to git, whose line endings then apply', async () => {
    const attrs = join(root, 'attrs');
    git(root, 'init', '--quiet', '-b', 'main', attrs);
    await writeFile(join(attrs, '.gitattributes'), '*.txt eol=crlf\n');
    await writeFile(join(attrs, 'x.txt'), 'one\ntwo\n');
    git(attrs, 'add', '-A');
    git(attrs, 'commit', '--quiet', '-m', 'attrs');
    const attrsSha = git(attrs, 'rev-parse', 'HEAD');
    const r = new GitObjectReader(join(attrs, '.git'));
    try {
      const direct = join(root, 'attrs-direct');
      await mkdir(direct);
      await expect(checkoutTree(r, attrsSha, direct)).rejects.toBeInstanceOf(NeedsGitCheckout);
      const ws = join(root, 'attrs-ws');
      await checkoutFromMirror(join(attrs, '.git'), attrsSha, ws, undefined, r);
      expect(await readFile(join(ws, 'x.txt'), 'utf8')).toBe('one\r\ntwo\r\n');
      expect(git(ws, 'status', '--porcelain')).toBe('');
    } finally {
      r.close();
    }
  });

  it('a commit the repository lacks is reported as missing, and the reader keeps working', async () => {
    await expect(reader.read('2'.repeat(40))).resolves.toBeNull();
    await expect(checkoutFromMirror(join(repo, '.git'), '2'.repeat(40), join(root, 'missing'), undefined, reader)).rejects.toThrow(/read-tree/);
    expect((await reader.read(sha))?.type).toBe('commit');
  });

  it('answers objects larger than the reader keeps without their bytes, and a checkout of them is left to git', async () => {
    const small = new GitObjectReader(join(repo, '.git'), 1024 * 1024);
    try {
      const bigOid = git(repo, 'rev-parse', `${sha}:big.bin`);
      // pipelined: the answer after the dropped bytes is read whole
      const [big, after] = await Promise.all([small.read(bigOid), small.read(`${sha}:a/x.txt`)]);
      expect(big).toMatchObject({ type: 'blob', size: 3 * 1024 * 1024, content: null });
      expect(after?.content?.toString()).toBe('in a\n');
      const direct = join(root, 'big-direct');
      await mkdir(direct);
      await mkdir(join(direct, '.git'));
      await expect(checkoutTree(small, sha, direct)).rejects.toBeInstanceOf(NeedsGitCheckout);
      const ws = join(root, 'big-ws');
      await checkoutFromMirror(join(repo, '.git'), sha, ws, undefined, small);
      const byGit = join(root, 'big-by-git');
      await checkoutFromMirror(join(repo, '.git'), sha, byGit);
      expect(await snapshot(ws)).toEqual(await snapshot(byGit));
      expect(git(ws, 'status', '--porcelain', '--untracked-files=all')).toBe('');
    } finally {
      small.close();
    }
  });

  it('a reader whose git process died starts a new one on its next read', async () => {
    const r = new GitObjectReader(join(repo, '.git'));
    expect((await r.read(sha))?.type).toBe('commit');
    const proc = (r as unknown as { proc: { kill: (s: string) => void; once: (e: string, f: () => void) => void } }).proc;
    await new Promise<void>((done) => {
      proc.once('exit', done);
      proc.kill('SIGKILL');
    });
    expect((await r.read(`${sha}^{tree}`))?.type).toBe('tree');
    r.close();
    await expect(r.read(sha)).rejects.toThrow(/closed/);
  });

  it('a read keeps its process alive until answered, and an idle reader does not (built code, as services run it)', () => {
    const distReader = join(__dirname, '..', '..', '..', '..', 'dist', 'libs', 'platform', 'git', 'src', 'object-reader.js');
    const script = `const { GitObjectReader } = require(${JSON.stringify(distReader)});
      const r = new GitObjectReader(${JSON.stringify(join(repo, '.git'))});
      r.read(${JSON.stringify(sha)}).then((o) => console.log(o.type));`;
    // without a hold on the loop, node would exit before the answer, printing nothing; with one kept while idle, it would never exit
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 }).trim()).toBe('commit');
  });

  it('GitMirrors.prepare writes the workspace through its object reader, and git agrees with it', async () => {
    const mirrors = new GitMirrors(join(root, 'mirrors'), { objectReaders: true });
    try {
      const prepared = await mirrors.prepare(repo, sha, 'build-1');
      expect(git(prepared, 'status', '--porcelain', '--untracked-files=all')).toBe('');
      expect(await readFile(join(prepared, 'a', 'deep', 'er', 'y.txt'), 'utf8')).toBe('deep\n');
      expect((mirrors as unknown as { readers: Map<string, unknown> }).readers.size).toBe(1);
    } finally {
      mirrors.close();
    }
    // a fresh process (nothing remembered) asks the reader whether the mirror holds a commit
    const again = new GitMirrors(join(root, 'mirrors'), { objectReaders: true });
    try {
      expect(await again.has(repo, '3'.repeat(40))).toBe(false);
      expect(await again.has(repo, sha)).toBe(true);
      expect(await again.has(join(root, 'no-such-repo'), sha)).toBe(false);
      expect((again as unknown as { readers: Map<string, unknown> }).readers.size).toBe(1);
    } finally {
      again.close();
    }
    // and without readers (the default), by git
    const byGit = new GitMirrors(join(root, 'mirrors'));
    const prepared = await byGit.prepare(repo, sha, 'build-2');
    expect(git(prepared, 'status', '--porcelain')).toBe('');
    expect((byGit as unknown as { readers: Map<string, unknown> }).readers.size).toBe(0);
  });
});
