import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, Stats, statSync, watch, writeFileSync, writeSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { GitObjectReader } from './object-reader';
import { runGit } from './run-git';
import { checkoutTree } from './tree-checkout';

/** A full SHA-1 or SHA-256 commit id (a mirror is only asked for exact commits). */
export const FULL_SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;
/** A key naming a prepared workspace (a build id): one path segment. */
const PREPARED_KEY_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** Where prepared workspaces wait, under the mirrors' root (same host, same filesystem as the mirrors). */
const PREPARED = '.prepared';
/** Suffix of a workspace still being prepared. */
const PREPARING = '.preparing';
/** The ref a mirror keeps its last fetched commit under (what its next fetch says it has). */
export const LAST_FETCHED = 'refs/kiln/last-fetched';

/** Key of a commit remembered as held by a mirror. */
const heldKey = (mirrorDir: string, sha: string) => `${mirrorDir}\u0000${sha.toLowerCase()}`;

const exists = (path: string) => stat(path).then(
  () => true,
  () => false,
);

const statOrNull = (path: string): Stats | null => statSync(path, { throwIfNoEntry: false }) ?? null;

// The few small file-system calls on the path from a pushed commit to a worker's checkout
// (a lock file, a workspace's skeleton, the hand-over rename) are synchronous: each takes
// microseconds, while an async one waits for a thread and then for its turn on an event
// loop that is busy starting the build (measured: a rename, a read and a mkdir took 15-35
// ms in a freshly started agent). Checkouts of many files stay asynchronous (tree-checkout).

/**
 * Resolves once an entry of `folder` named one of `names` changes (or after `ms`, or on
 * abort, or at once when `already()` says what was awaited happened before the watch
 * started): inotify on the folder, not a poll.
 */
function watchFor(folder: string, names: string[], ms: number, already: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const watcher = watch(folder, (_event, file) => {
      if (file && names.includes(file)) finish();
    });
    watcher.on('error', finish);
    const timer = setTimeout(finish, ms);
    signal?.addEventListener('abort', finish);
    void already().then((yes) => yes && finish());
  });
}

/** Resolves once the prepared workspace `path` appears or its preparation ends (or after `ms`). */
function waitForPrepared(path: string, ms: number): Promise<void> {
  // it may have been renamed between the look and the watch
  return watchFor(dirname(path), [basename(path), `${basename(path)}${PREPARING}`], ms, () => exists(path));
}

export interface GitMirrorsOptions {
  /** How long to wait for another process's fetch into the same mirror before giving up. */
  waitMs?: number;
  /** A lock older than this is from a process that died mid-fetch and is broken. */
  staleLockMs?: number;
  /**
   * Whether {@link GitMirrors.prepare} writes workspaces itself from objects read through one
   * long-running `git cat-file` per mirror, rather than spawning `git read-tree` for each
   * (see {@link checkoutTree}), and {@link GitMirrors.has} asks that reader too. For a
   * long-lived process (the pool-manager); off by default, as a process that checks out
   * once (an agent) would only spawn one more git. Off too when git's config could change
   * how files are checked out (line endings, attributes), which only git applies.
   */
  objectReaders?: boolean;
  /**
   * Whether a repository on this host, named by a plain absolute path, is borrowed rather
   * than fetched: the mirror lists the repository's object directory as an alternate, as
   * `git clone` does for a local path (`--local`, `--shared`), so a newly pushed commit is
   * served without a single git process. A `file://` URL still goes through git's transport,
   * as with git itself. Off where workspaces are used in another view of the file system
   * (the docker driver's containers see the mirror, not the host's repositories).
   */
  borrowLocal?: boolean;
}

/**
 * Per-host bare mirrors of the repositories Kiln builds, one per repository URL, shared by
 * every worker on the host (and the pool-manager, which fetches a pushed commit into it as
 * soon as the build is requested, while the build is still being queued and leased).
 *
 * A worker then checks out from the mirror through git's alternates: no network and no
 * pack transfer on the path from lease to first step. Only depth-1 fetches of exact
 * commits go into a mirror; its objects are never garbage-collected (`gc.auto 0`), since
 * workspaces borrow them. One fetch at a time per mirror, across processes, through an
 * exclusive lock file; a process that finds the lock taken waits for it to go (inotify,
 * not polling) and looks again. Every failure here is the caller's cue to fetch directly.
 */
export class GitMirrors {
  private readonly waitMs: number;
  private readonly staleLockMs: number;
  /** Fetches in flight in this process, by mirror and commit. */
  private readonly inFlight = new Map<string, Promise<string>>();
  /** Commits this process saw in a mirror (objects are never pruned, so they stay): asked once, not once per build. */
  private readonly held = new Set<string>();
  /** One object reader per mirror, for {@link prepare}. */
  private readonly readers = new Map<string, GitObjectReader>();
  /** Whether prepare may check out without git (asked of git's config once). */
  private readerUse: Promise<boolean> | null = null;
  private readonly borrowLocal: boolean;
  /** Mirrors whose alternates this process checked list the local repository they borrow from. */
  private readonly borrowing = new Set<string>();

  constructor(
    readonly root: string,
    opts: GitMirrorsOptions = {},
  ) {
    this.waitMs = opts.waitMs ?? 120_000;
    this.staleLockMs = opts.staleLockMs ?? 600_000;
    this.borrowLocal = opts.borrowLocal === true;
    if (opts.objectReaders !== true) this.readerUse = Promise.resolve(false);
  }

  /** Ends the mirrors' object readers. */
  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.readerUse = Promise.resolve(false);
  }

  /** The object reader of a mirror, or null when workspaces are checked out by git here. */
  private async readerFor(mirrorDir: string): Promise<GitObjectReader | null> {
    this.readerUse ??= checkoutIsPlain();
    if (!(await this.readerUse)) return null;
    let r = this.readers.get(mirrorDir);
    if (!r) {
      r = new GitObjectReader(mirrorDir);
      this.readers.set(mirrorDir, r);
    }
    return r;
  }

  /** The mirror's directory for a repository URL. */
  dirFor(repoUrl: string): string {
    return join(this.root, `${createHash('sha256').update(repoUrl).digest('hex').slice(0, 24)}.git`);
  }

  /** Whether this process saw the commit in the mirror: a stat (the mirror may have been removed by hand), not a git process. */
  private remembered(dir: string, sha: string): boolean {
    return this.held.has(heldKey(dir, sha)) && existsSync(join(dir, 'objects'));
  }

  /** Whether the mirror holds the commit (false when there is no mirror yet). */
  async has(repoUrl: string, sha: string): Promise<boolean> {
    const dir = this.dirFor(repoUrl);
    const key = heldKey(dir, sha);
    if (this.remembered(dir, sha)) return true;
    try {
      // asked of the mirror's object reader when there is one: a pipe round trip, not a git process (30 ms under load)
      const reader = FULL_SHA_RE.test(sha) && existsSync(join(dir, 'objects')) ? await this.readerFor(dir) : null;
      const answer = reader ? await reader.read(`${sha.toLowerCase()}^{commit}`).catch(() => undefined) : undefined;
      if (answer === null) throw new Error('not in the mirror');
      if (answer === undefined) await runGit(['cat-file', '-e', `${sha}^{commit}`], { cwd: dir });
      this.remember(key);
      return true;
    } catch {
      this.held.delete(key);
      return false;
    }
  }

  private remember(key: string): void {
    this.held.add(key);
    if (this.held.size > 10_000) this.held.delete(this.held.values().next().value as string);
  }

  /**
   * Makes sure the mirror holds `sha`, fetching it (depth 1) if not; joins a fetch of it in
   * flight in this process, or waits for another process's. Resolves with the mirror's
   * directory; rejects when the commit cannot be had (the caller fetches directly).
   */
  ensure(repoUrl: string, sha: string, signal?: AbortSignal): Promise<string> {
    if (!FULL_SHA_RE.test(sha)) return Promise.reject(new Error(`a mirror needs a full commit sha, not '${sha}'`));
    const key = `${repoUrl}\u0000${sha.toLowerCase()}`;
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.ensureNow(repoUrl, sha.toLowerCase(), signal).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async ensureNow(repoUrl: string, sha: string, signal?: AbortSignal): Promise<string> {
    const dir = this.dirFor(repoUrl);
    const lockPath = `${dir}.lock`;
    mkdirSync(this.root, { recursive: true });
    const giveUpAt = Date.now() + this.waitMs;
    let waited = false;
    for (;;) {
      if (signal?.aborted) throw new Error('mirror fetch aborted');
      // after waiting for another process's fetch, the mirror is asked first: it may have been this commit
      if (this.remembered(dir, sha) || (waited && (await this.has(repoUrl, sha)))) return dir;
      if (await this.borrowed(repoUrl, dir, sha)) return dir;
      const release = this.tryLock(lockPath, sha);
      if (release) {
        try {
          await this.initIfMissing(dir);
          if (await this.borrowed(repoUrl, dir, sha)) return dir;
          return await this.fetchInto(repoUrl, dir, sha, signal);
        } finally {
          await release();
        }
      }
      // the mirror is asked unless the lock's holder is fetching this very commit: its fetch may
      // have written the commit but not yet its files (loose objects, the commit first)
      if (lockHolderFetching(lockPath) !== sha && (await this.has(repoUrl, sha))) return dir;
      const left = giveUpAt - Date.now();
      if (left <= 0) throw new Error(`mirror ${dir} stayed locked for ${this.waitMs} ms`);
      await waitForRemoval(lockPath, left, signal);
      waited = true;
    }
  }

  /**
   * Whether `sha` is served by borrowing from a repository on this host (see
   * {@link GitMirrorsOptions.borrowLocal}): the mirror's alternates list the repository's
   * objects (written once, the first time this process sees the mirror) and the commit is
   * there. False when borrowing is off, the URL is not a local repository, the mirror does
   * not exist yet (it is made under the lock), or the repository lacks the commit (then it
   * is fetched, and fails as a fetch would).
   */
  private async borrowed(repoUrl: string, dir: string, sha: string): Promise<boolean> {
    if (!this.borrowLocal) return false;
    if (!this.borrowing.has(dir)) {
      const objects = localObjectsDir(repoUrl);
      if (!objects || !existsSync(join(dir, 'HEAD'))) return false;
      if (addAlternate(dir, objects)) {
        // a reader started before reads the alternates again only on a miss: a new one starts from them
        this.readers.get(dir)?.close();
        this.readers.delete(dir);
      }
      this.borrowing.add(dir);
    }
    return this.has(repoUrl, sha);
  }

  /**
   * Fetches `sha` into the mirror (its lock held) without asking the mirror first: a commit
   * this process has not seen is nearly always a newly pushed one, and the look (a round trip
   * to the object reader: 3 ms median, 16 ms at p95 on the loaded 2-core machine) would only
   * delay its fetch. The mirror is asked only when the fetch fails: it may hold the commit
   * already (fetched by another process, or before a restart) while the remote cannot be
   * reached. The look is not run beside the fetch: git unpacks a small fetch into loose
   * objects, the commit first, so a look beside it can find the commit before its files,
   * and a fetch stopped on that answer left the mirror with a commit it could not check out.
   */
  private async fetchInto(repoUrl: string, dir: string, sha: string, signal?: AbortSignal): Promise<string> {
    try {
      // no `git maintenance run --auto` after each fetch: one process less on the way to a build's checkout (gc is off here anyway);
      // the commit is kept under LAST_FETCHED, so the next fetch offers it to the server as one it has: the server then sends
      // what changed since, not the whole tree again (and, for trees of 100 objects or more, a whole new pack kept each time)
      await runGit(['-c', 'protocol.version=2', '-c', 'maintenance.auto=false', 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-recurse-submodules', '--depth', '1', repoUrl, `+${sha}:${LAST_FETCHED}`], {
        cwd: dir,
        signal,
      });
    } catch (e) {
      if (!signal?.aborted && (await this.has(repoUrl, sha))) return dir;
      throw e;
    }
    keepShallowOnly(dir, sha);
    this.remember(heldKey(dir, sha));
    return dir;
  }

  /**
   * Checks `sha` out ahead of time into a workspace kept for `key` (a build id), for a
   * worker on this host to take with one rename when it is leased the build: the pool
   * prepares it while the build is queued, so the checkout is off the path from lease to
   * first step. Written under a temporary name and renamed when complete, so a worker never
   * takes half a workspace. Rejects when the commit cannot be had.
   */
  async prepare(repoUrl: string, sha: string, key: string): Promise<string> {
    const final = this.preparedPath(key);
    // the folder is made first, under a name a worker recognises: one leased meanwhile waits for it
    const pending = `${final}${PREPARING}`;
    try {
      // the parent is made only when missing (the first time): one file system call less per build
      try {
        mkdirSync(pending);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        mkdirSync(dirname(pending), { recursive: true });
        mkdirSync(pending);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return final; // another process prepares it
      throw e;
    }
    const borrowedDir = this.dirFor(repoUrl);
    // in a mirror that borrows, the checkout's first read looks for the commit: no round trip to the reader before it
    const borrowing = this.borrowing.has(borrowedDir);
    try {
      const mirrorDir = borrowing ? borrowedDir : await this.ensure(repoUrl, sha);
      await checkoutFromMirror(mirrorDir, sha.toLowerCase(), pending, undefined, await this.readerFor(mirrorDir));
      renameSync(pending, final);
      return final;
    } catch (e) {
      // the next preparation goes through ensure again (the mirror may have been removed by hand)
      if (borrowing) this.borrowing.delete(borrowedDir);
      await rm(pending, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Moves the workspace prepared for `key` to `dir` (absent, or an empty folder) if there is
   * one at `sha`, waiting up to `waitMs` for one being prepared: true when it was taken.
   * False when none is (or gets) ready, it holds another commit, or it is on another
   * filesystem (it is then removed); the caller checks out itself.
   */
  async take(key: string, sha: string, dir: string, waitMs = 10_000): Promise<boolean> {
    const from = this.preparedPath(key);
    if (!existsSync(from) && existsSync(`${from}${PREPARING}`)) await waitForPrepared(from, waitMs);
    let head: string;
    try {
      head = readFileSync(join(from, '.git', 'HEAD'), 'utf8');
    } catch {
      return false;
    }
    if (head.trim().toLowerCase() !== sha.toLowerCase()) {
      await this.discard(key);
      return false;
    }
    try {
      mkdirSync(dirname(dir), { recursive: true });
      renameSync(from, dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false; // another worker took it first
      await this.discard(key);
      return false;
    }
  }

  /** Removes the workspace prepared for `key`, if it was not taken (the build ended, or went elsewhere). */
  async discard(key: string): Promise<void> {
    await rm(this.preparedPath(key), { recursive: true, force: true });
  }

  /** Removes prepared workspaces (and unfinished ones) older than `maxAgeMs`: left by a pool-manager that stopped. */
  async sweepPrepared(maxAgeMs: number): Promise<number> {
    const root = join(this.root, PREPARED);
    const names = await readdir(root).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const s = await stat(join(root, name)).catch(() => null);
      if (s && Date.now() - s.mtimeMs > maxAgeMs) {
        await rm(join(root, name), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  private preparedPath(key: string): string {
    if (!PREPARED_KEY_RE.test(key)) throw new Error(`invalid prepared workspace key '${key}'`);
    return join(this.root, PREPARED, key);
  }

  private async initIfMissing(dir: string): Promise<void> {
    if (!existsSync(join(dir, 'HEAD'))) {
      mkdirSync(dir, { recursive: true });
      await runGit(['init', '--quiet', '--bare'], { cwd: dir });
      // workspaces borrow these objects through alternates: never prune them
      await runGit(['config', 'gc.auto', '0'], { cwd: dir });
    }
  }

  /** Takes the lock file (breaking a stale one), naming the commit about to be fetched; null when another process holds it. */
  private tryLock(lockPath: string, sha: string): (() => Promise<void>) | null {
    try {
      const fd = openSync(lockPath, 'wx');
      try {
        writeSync(fd, `${process.pid} ${new Date().toISOString()} ${sha}\n`);
      } finally {
        closeSync(fd);
      }
      return () => rm(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const s = statOrNull(lockPath);
      if (s && Date.now() - s.mtimeMs > this.staleLockMs) {
        rmSync(lockPath, { force: true });
        return this.tryLock(lockPath, sha);
      }
      return null;
    }
  }
}

/**
 * The object directory of the git repository at `repoUrl` when it is a plain absolute path
 * on this host (bare, or a working copy with a `.git` folder); null for any URL, `file://`
 * included, and for anything that is not a repository.
 */
function localObjectsDir(repoUrl: string): string | null {
  if (!isAbsolute(repoUrl)) return null;
  for (const gitDir of [repoUrl, join(repoUrl, '.git')]) {
    if (existsSync(join(gitDir, 'HEAD')) && statOrNull(join(gitDir, 'objects'))?.isDirectory()) return resolve(gitDir, 'objects');
  }
  return null;
}

/** The commit the holder of a mirror's lock is fetching, as its lock file names it; null when none is named (or the lock is gone). */
function lockHolderFetching(lockPath: string): string | null {
  try {
    return readFileSync(lockPath, 'utf8').trim().split(' ')[2]?.toLowerCase() ?? null;
  } catch {
    return null;
  }
}

/** Lists `objects` in the mirror's alternates unless it is there; true when it was added. */
function addAlternate(mirrorDir: string, objects: string): boolean {
  const file = join(mirrorDir, 'objects', 'info', 'alternates');
  let listed: string[] = [];
  try {
    listed = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (listed.includes(objects)) return false;
  mkdirSync(dirname(file), { recursive: true });
  // another process may write the same line at once: each writes a whole file and renames it
  const tmp = `${file}.${process.pid}.kiln`;
  writeFileSync(tmp, [...listed, objects, ''].join('\n'));
  renameSync(tmp, file);
  return true;
}

/**
 * Leaves `sha` as the mirror's only shallow commit. Each depth-1 fetch adds its commit to
 * the `shallow` file, and every later fetch sends that whole list to the server, which
 * looks up each entry: a cost that grows with every build the host ever ran (measured: a
 * local fetch took 37 ms with 2,000 entries and 18 ms with one; with a real remote, that is
 * 100 KB more to upload per 2,000 builds). Only LAST_FETCHED is walked from (fetch
 * negotiation, git's connectivity check), and it names `sha`; older commits stay readable
 * (objects are never pruned) and each workspace has its own `shallow`. Written whole and
 * renamed, under the mirror's lock.
 */
function keepShallowOnly(mirrorDir: string, sha: string): void {
  const tmp = join(mirrorDir, 'shallow.kiln');
  writeFileSync(tmp, `${sha}\n`);
  renameSync(tmp, join(mirrorDir, 'shallow'));
}

/** Resolves once `path` is gone (or after `ms`, or on abort): inotify on its folder, not a poll. */
function waitForRemoval(path: string, ms: number, signal?: AbortSignal): Promise<void> {
  // the lock may have gone between the failed take and the watch
  return watchFor(dirname(path), [basename(path)], ms, async () => !(await exists(path)), signal);
}

/** What `git init` would leave that a checkout needs: written directly, not by spawning git. */
const MINIMAL_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n';

/**
 * Whether git's own config leaves a checkout plain (no line-ending conversion, no global or
 * system attributes file), so that writing a tree's blobs as they are is what git would do.
 * Asked once per process (one git), not per checkout.
 */
async function checkoutIsPlain(): Promise<boolean> {
  const set = await runGit(['config', '--get-regexp', '^core\\.(autocrlf|eol|attributesfile)$'], { cwd: '/' }).then(
    (r) => r.stdout.trim() !== '',
    (e: { exitCode?: number | null }) => e.exitCode !== 1, // 1: none of them is set
  );
  if (set) return false;
  const xdg = process.env.XDG_CONFIG_HOME || (process.env.HOME ? join(process.env.HOME, '.config') : '');
  const attributeFiles = ['/etc/gitattributes', ...(xdg ? [join(xdg, 'git', 'attributes')] : [])];
  return !(await Promise.all(attributeFiles.map(exists))).some(Boolean);
}

/**
 * Checks out `sha` into `dir` from a mirror that holds it: a new repository that borrows
 * the mirror's objects (alternates), shallow at `sha` like a depth-1 clone, HEAD detached.
 * The repository's few files are written here rather than by `git init`: this runs between
 * lease and first step, where each process spawned costs milliseconds, so one git process
 * (`read-tree`, which fills the index and the working tree) does the whole checkout; with a
 * `reader` of the mirror, none does (see {@link checkoutTree}), unless the tree needs git.
 * Rejects when the mirror lacks the commit.
 */
export async function checkoutFromMirror(mirrorDir: string, sha: string, dir: string, signal?: AbortSignal, reader?: GitObjectReader | null): Promise<void> {
  const git = join(dir, '.git');
  for (const d of [join(git, 'objects', 'info'), join(git, 'refs', 'heads'), join(git, 'refs', 'tags')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(git, 'config'), MINIMAL_CONFIG);
  writeFileSync(join(git, 'HEAD'), `${sha}\n`);
  writeFileSync(join(git, 'objects', 'info', 'alternates'), `${join(mirrorDir, 'objects')}\n`);
  writeFileSync(join(git, 'shallow'), `${sha}\n`);
  if (reader) {
    try {
      await checkoutTree(reader, sha, dir, signal);
      return;
    } catch (e) {
      if (signal?.aborted || !(e instanceof Error)) throw e;
      // git starts over in a clean working tree (a reader whose process died starts a new one on its next read)
      const names = await readdir(dir);
      await Promise.all(names.filter((n) => n !== '.git').map((n) => rm(join(dir, n), { recursive: true, force: true })));
    }
  }
  await runGit(['read-tree', '--reset', '-u', `${sha}^{tree}`], { cwd: dir, signal });
}
