import { mkdir, rm } from 'node:fs/promises';
import { checkoutFromMirror, FULL_SHA_RE, GitCommandError, GitMirrors, redactUrl, redactUrlIn, runGit } from '@kiln/git';

/** A full or abbreviated (at least 4 hex digits) commit id; SHA-1 or SHA-256. */
const SHA_RE = /^[0-9a-f]{4,64}$/i;

/** Options for {@link checkout}. */
export interface CheckoutOptions {
  /** Clone URL (https, ssh, file:// or a local path). Credentials in it are never logged. */
  repoUrl: string;
  /** Exact commit to build. When absent, the current tip of `ref` is checked out. */
  sha?: string | null;
  /** Branch or ref the commit belongs to (`main`, `refs/heads/main`, `refs/pull/1/head`). */
  ref: string;
  /** Directory to check out into; created if missing. */
  dir: string;
  /** Aborts the running git command. */
  signal?: AbortSignal;
  /** The host's repository mirrors: an exact sha is checked out from there when it can be. */
  mirrors?: GitMirrors | null;
  /** Key of a workspace the pool may have prepared in the mirrors for this checkout (the build id): taken when ready. */
  prepared?: string;
}

/** Result of {@link checkout}. */
export interface CheckoutResult {
  /** Full sha of the checked-out HEAD. */
  sha: string;
  /** How: prepared by the pool while the build was queued, from the host's mirror, or fetched straight from the repository. */
  via: 'prepared' | 'mirror' | 'fetch';
  /** Why the mirror was not used, when one was given. */
  mirrorError?: string;
}

/**
 * Checks out one commit of a repository into `dir` with a shallow fetch:
 * `git init`, `git fetch --depth 1 origin <sha or ref>`, `git checkout --detach`. When a sha is
 * given but the server refuses to serve it directly (unadvertised object, abbreviated sha), the
 * whole `ref` is fetched instead and the sha is looked up in it.
 *
 * Rejects with an `Error` whose message names the (redacted) repository URL and includes
 * git's stderr.
 */
export async function checkout(opts: CheckoutOptions): Promise<CheckoutResult> {
  const { repoUrl, ref, dir, signal } = opts;
  const sha = opts.sha?.trim() || null;
  const where = `${redactUrl(repoUrl)}${sha ? ` at ${sha}` : ''} (${ref})`;
  if (sha && !SHA_RE.test(sha)) throw new Error(`checkout of ${where} failed: invalid commit sha '${sha}'`);
  if (ref.startsWith('-') || ref.trim() === '') throw new Error(`checkout of ${where} failed: invalid ref '${ref}'`);
  if (repoUrl.startsWith('-') || repoUrl.trim() === '') {
    throw new Error(`checkout of ${where} failed: invalid repository URL`);
  }
  const git = async (args: string[]) => {
    if (signal?.aborted) throw new Error(`checkout of ${where} aborted`);
    try {
      return await runGit(args, { cwd: dir, signal });
    } catch (err) {
      throw wrap(err);
    }
  };
  const wrap = (err: unknown): Error => {
    if (err instanceof GitCommandError && err.aborted) return new Error(`checkout of ${where} aborted`);
    const msg = err instanceof Error ? err.message : String(err);
    return new Error(redactUrlIn(`checkout of ${where} failed: ${msg}`, repoUrl), { cause: err });
  };

  let mirrorError: string | undefined;
  if (opts.mirrors && sha && FULL_SHA_RE.test(sha)) {
    try {
      // the pool-manager checked the commit out while the build was queued: one rename
      if (opts.prepared && (await opts.mirrors.take(opts.prepared, sha, dir))) return { sha: sha.toLowerCase(), via: 'prepared' };
      // or it fetched the commit into the mirror: check out at once
      // (one git process); only when the mirror lacks it, fetch into the mirror first
      const fromMirror = await checkoutFromMirror(opts.mirrors.dirFor(repoUrl), sha, dir, signal).then(
        () => true,
        () => false,
      );
      if (!fromMirror) {
        if (signal?.aborted) throw new Error('aborted');
        await rm(dir, { recursive: true, force: true });
        await checkoutFromMirror(await opts.mirrors.ensure(repoUrl, sha, signal), sha, dir, signal);
      }
      return { sha: sha.toLowerCase(), via: 'mirror' };
    } catch (e) {
      if (signal?.aborted) throw new Error(`checkout of ${where} aborted`);
      // the mirror only ever speeds a checkout up: start over with a direct fetch
      mirrorError = redactUrlIn((e as Error).message, repoUrl);
      await rm(dir, { recursive: true, force: true });
    }
  }

  await mkdir(dir, { recursive: true });
  // fetch straight from the URL (no remote to configure): every git process spawned here
  // is on the path from "lease taken" to "first step running"
  await git(['init', '--quiet']);
  const origin = repoUrl;

  const fetch = ['-c', 'protocol.version=2', 'fetch', '--quiet', '--no-tags', '--no-recurse-submodules'];
  if (sha) {
    let target = 'FETCH_HEAD';
    try {
      await git([...fetch, '--depth', '1', origin, sha]);
    } catch (shaError) {
      if (signal?.aborted) throw shaError;
      // The server refused the sha (not advertised, abbreviated, ...): fetch the whole ref instead.
      const serverSaid = shaError instanceof Error ? shaError.message.replace(/^checkout of .*? failed: /, '') : '';
      // An earlier shallow checkout in the same dir would hide older commits: deepen fully.
      const shallow = (await git(['rev-parse', '--is-shallow-repository'])).stdout.trim() === 'true';
      try {
        await git([...fetch, ...(shallow ? ['--unshallow'] : []), origin, ref]);
      } catch (refError) {
        const msg = refError instanceof Error ? refError.message : String(refError);
        throw new Error(`${msg}\n(fetching ${sha} directly also failed: ${serverSaid})`, { cause: refError });
      }
      target = sha;
      try {
        await git(['cat-file', '-e', `${sha}^{commit}`]);
      } catch {
        throw new Error(
          redactUrlIn(
            `checkout of ${where} failed: commit ${sha} not found in ${ref} of ${repoUrl} (${serverSaid})`,
            repoUrl,
          ),
        );
      }
    }
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', '--detach', `${target}^{commit}`]);
  } else {
    await git([...fetch, '--depth', '1', origin, ref]);
    await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', '--detach', 'FETCH_HEAD']);
  }

  // a full sha checked out detached is HEAD: no need to ask git again
  const head = sha && /^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha) ? sha.toLowerCase() : (await git(['rev-parse', 'HEAD'])).stdout.trim();
  if (sha && !head.startsWith(sha.toLowerCase())) {
    throw new Error(`checkout of ${where} failed: HEAD is ${head}, expected ${sha}`);
  }
  return mirrorError === undefined ? { sha: head, via: 'fetch' } : { sha: head, via: 'fetch', mirrorError };
}
