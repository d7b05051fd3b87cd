import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';

/** Name of the pipeline file read from the release. */
export const PIPELINE_FILE = '.kiln.yml';

export interface ReleaseSource {
  repoUrl: string;
  /** The exact commit the build ran. */
  sha: string;
  /** The ref the commit belongs to (fetched when the server does not serve a bare sha). */
  ref: string;
}

/**
 * A release directory: the build's commit, fetched shallowly (`git init` + `git fetch --depth 1
 * <url> <sha>`). {@link readPipeline} reads `.kiln.yml` from the fetched commit before anything is
 * checked out, so a build without a `deploy` section costs one fetch and no checkout.
 */
export class ReleaseCheckout {
  private fetched = false;

  constructor(
    readonly dir: string,
    private readonly source: ReleaseSource,
    private readonly timeoutMs = 5 * 60_000,
  ) {}

  /** Fetches the commit (once); returns the text of `.kiln.yml` at it, or null when it has none. */
  async readPipeline(): Promise<string | null> {
    await this.fetch();
    try {
      return (await this.git(['show', `${this.source.sha}:${PIPELINE_FILE}`])).stdout;
    } catch (e) {
      if (/does not exist|exists on disk, but not in/.test((e as Error).message)) return null;
      throw e;
    }
  }

  /** Checks the fetched commit out into the directory (detached). */
  async checkout(): Promise<void> {
    await this.fetch();
    await this.git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', '--detach', `${this.source.sha}^{commit}`]);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private async fetch(): Promise<void> {
    if (this.fetched) return;
    const { repoUrl, sha, ref } = this.source;
    if (!/^[0-9a-f]{7,64}$/.test(sha)) throw new Error(`invalid commit sha "${sha}"`);
    if (repoUrl.startsWith('-') || ref.startsWith('-')) throw new Error('invalid repository URL or ref');
    await mkdir(this.dir, { recursive: true });
    await this.git(['init', '--quiet']);
    const fetch = ['-c', 'protocol.version=2', 'fetch', '--quiet', '--no-tags', '--no-recurse-submodules'];
    try {
      await this.git([...fetch, '--depth', '1', repoUrl, sha]);
    } catch {
      // the server does not serve a bare sha: fetch the ref and find the commit in it
      await this.git([...fetch, repoUrl, ref]);
    }
    await this.git(['cat-file', '-e', `${sha}^{commit}`]).catch(() => {
      throw new Error(`commit ${sha} not found in ${ref}`);
    });
    this.fetched = true;
  }

  private git(args: string[]): Promise<{ stdout: string }> {
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        { cwd: this.dir, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (err) reject(new Error(redact(`git ${args.find((a) => !a.startsWith('-') && !a.includes('=')) ?? ''} failed: ${String(stderr).trim() || err.message}`)));
          else resolve({ stdout });
        },
      );
    });
  }
}

/** Hides credentials of URLs in a message (`https://user:token@host` → `https://***@host`). */
export function redact(message: string): string {
  return message.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}
