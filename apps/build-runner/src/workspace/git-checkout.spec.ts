import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitMirrors } from '@kiln/git';
import { checkout } from './git-checkout';
import { gitIn } from '@kiln/testing';

const git = gitIn;

describe('checkout', () => {
  let root: string;
  let remote: string;
  let firstSha: string;
  let secondSha: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-checkout-'));
    remote = join(root, 'remote.git');
    const work = join(root, 'work');
    git(root, 'init', '--quiet', '--bare', '-b', 'main', remote);
    git(root, 'init', '--quiet', '-b', 'main', work);
    await writeFile(join(work, 'file.txt'), 'first\n');
    git(work, 'add', 'file.txt');
    git(work, 'commit', '--quiet', '-m', 'first');
    firstSha = git(work, 'rev-parse', 'HEAD');
    await writeFile(join(work, 'file.txt'), 'second\n');
    git(work, 'commit', '--quiet', '-am', 'second');
    secondSha = git(work, 'rev-parse', 'HEAD');
    git(work, 'push', '--quiet', remote, 'main');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  let n = 0;
  const freshDir = () => join(root, `checkout-${++n}`, 'nested');

  it('checks out an exact (older) sha', async () => {
    const dir = freshDir();
    const result = await checkout({ repoUrl: remote, sha: firstSha, ref: 'refs/heads/main', dir });
    expect(result).toEqual({ sha: firstSha, via: 'fetch' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('first\n');
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(firstSha);
    expect(git(dir, 'rev-parse', '--is-shallow-repository')).toBe('true');
  });

  it('checks out the tip of a ref when no sha is given', async () => {
    const dir = freshDir();
    expect(await checkout({ repoUrl: `file://${remote}`, sha: null, ref: 'refs/heads/main', dir })).toEqual({
      sha: secondSha,
      via: 'fetch',
    });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('second\n');
    expect(await checkout({ repoUrl: remote, ref: 'main', dir: freshDir() })).toEqual({ sha: secondSha, via: 'fetch' });
  });

  it('falls back to fetching the ref when the sha cannot be fetched directly (abbreviated sha)', async () => {
    const dir = freshDir();
    const short = firstSha.slice(0, 10);
    expect(await checkout({ repoUrl: remote, sha: short, ref: 'main', dir })).toEqual({ sha: firstSha, via: 'fetch' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('first\n');
  });

  it('can check out again into a directory that already has an origin', async () => {
    const dir = freshDir();
    await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir });
    expect(await checkout({ repoUrl: remote, sha: firstSha, ref: 'main', dir })).toEqual({ sha: firstSha, via: 'fetch' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('first\n');
    // abbreviated sha (fallback path) in a directory that is already shallow
    const again = freshDir();
    await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir: again });
    expect(await checkout({ repoUrl: remote, sha: firstSha.slice(0, 8), ref: 'main', dir: again })).toEqual({
      sha: firstSha,
      via: 'fetch',
    });
  });

  it('rejects an unknown sha with a clear message naming the sha and the repository', async () => {
    const bad = 'deadbeef'.repeat(5);
    const promise = checkout({ repoUrl: remote, sha: bad, ref: 'main', dir: freshDir() });
    await expect(promise).rejects.toThrow(`commit ${bad} not found in main of ${remote}`);
  });

  it('rejects an unknown ref including git stderr', async () => {
    const promise = checkout({ repoUrl: remote, ref: 'refs/heads/nope', dir: freshDir() });
    await expect(promise).rejects.toThrow(/checkout of .*remote\.git \(refs\/heads\/nope\) failed: git fetch failed: .*couldn't find remote ref/);
  });

  it('rejects an unreachable repository including git stderr and the URL', async () => {
    const missing = join(root, 'missing.git');
    const promise = checkout({ repoUrl: missing, ref: 'main', dir: freshDir() });
    await expect(promise).rejects.toThrow(missing);
    await expect(checkout({ repoUrl: missing, ref: 'main', dir: freshDir() })).rejects.toThrow(
      /does not appear to be a git repository|Could not read from remote/,
    );
  });

  it('never leaks credentials embedded in the URL', async () => {
    const url = 'http://kiln-user:s3cr3t-token@127.0.0.1:9/repo.git';
    const error = await checkout({ repoUrl: url, ref: 'main', dir: freshDir() }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain('http://***@127.0.0.1:9/repo.git');
    expect(error?.message).not.toContain('s3cr3t-token');
  });

  it('rejects invalid arguments before running git', async () => {
    await expect(checkout({ repoUrl: remote, sha: '--upload-pack=x', ref: 'main', dir: freshDir() })).rejects.toThrow(
      'invalid commit sha',
    );
    await expect(checkout({ repoUrl: remote, ref: '--upload-pack=x', dir: freshDir() })).rejects.toThrow('invalid ref');
  });

  it('rejects when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      checkout({ repoUrl: remote, ref: 'main', dir: freshDir(), signal: controller.signal }),
    ).rejects.toThrow('aborted');
  });
  it('checks out an exact sha from the host mirror when one is given', async () => {
    const mirrors = new GitMirrors(join(root, 'mirrors'));
    const dir = join(root, 'via-mirror');
    const result = await checkout({ repoUrl: remote, sha: firstSha, ref: 'main', dir, mirrors });
    expect(result).toEqual({ sha: firstSha, via: 'mirror' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('first\n');
    expect(await mirrors.has(remote, firstSha)).toBe(true);
  });

  it('from a mirror that lacks the commit, fetches it into the mirror; the workspace is a clean, shallow git repository at the commit', async () => {
    const mirrors = new GitMirrors(join(root, 'mirrors-2'));
    await checkout({ repoUrl: remote, sha: firstSha, ref: 'main', dir: join(root, 'm2-first'), mirrors });
    const dir = join(root, 'm2-second');
    const result = await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir, mirrors: new GitMirrors(join(root, 'mirrors-2')) });
    expect(result).toEqual({ sha: secondSha, via: 'mirror' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('second\n');
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(secondSha);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(git(dir, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(git(dir, 'log', '--format=%s')).toBe('second');
  });

  it('takes the workspace the pool prepared for the build, and checks out itself when there is none', async () => {
    const mirrors = new GitMirrors(join(root, 'mirrors-3'));
    await mirrors.prepare(remote, secondSha, 'build-a');
    const dir = join(root, 'prepared-a');
    expect(await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir, mirrors, prepared: 'build-a' })).toEqual({ sha: secondSha, via: 'prepared' });
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('second\n');
    const other = join(root, 'prepared-b');
    expect(await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir: other, mirrors, prepared: 'build-b' })).toEqual({ sha: secondSha, via: 'mirror' });
    expect(git(other, 'rev-parse', 'HEAD')).toBe(secondSha);
  });

  it('fetches directly, saying why, when the mirror cannot serve', async () => {
    await writeFile(join(root, 'not-a-dir'), 'x');
    const dir = join(root, 'mirror-broken');
    const result = await checkout({ repoUrl: remote, sha: secondSha, ref: 'main', dir, mirrors: new GitMirrors(join(root, 'not-a-dir', 'mirrors')) });
    expect(result.sha).toBe(secondSha);
    expect(result.via).toBe('fetch');
    expect(result.mirrorError).toMatch(/ENOTDIR/);
    expect(await readFile(join(dir, 'file.txt'), 'utf8')).toBe('second\n');
  });
});
