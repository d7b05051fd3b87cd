import { execFile } from 'node:child_process';
import { Attr } from '@kiln/contracts';
import { inSpan } from '@kiln/telemetry';

/** Options for {@link runGit}. */
export interface RunGitOptions {
  /** Working directory (the repository). */
  cwd: string;
  /** Aborts the git process (SIGTERM) when signalled. */
  signal?: AbortSignal;
}

/** Output of a git command that exited with status 0. */
export interface GitResult {
  stdout: string;
  stderr: string;
}

/** A git command that failed to start, exited non-zero or was aborted. */
export class GitCommandError extends Error {
  constructor(
    message: string,
    /** The git arguments (without `git`). */
    readonly args: readonly string[],
    /** git's stderr, trimmed. */
    readonly stderr: string,
    /** Exit code, or null when git was killed or failed to start. */
    readonly exitCode: number | null,
    /** True when the command was aborted through the signal. */
    readonly aborted: boolean,
  ) {
    super(message);
    this.name = 'GitCommandError';
  }
}

/**
 * Runs `git <args>` without a shell. Prompts are disabled (`GIT_TERMINAL_PROMPT=0`) so a missing
 * credential fails fast instead of hanging. Rejects with {@link GitCommandError}.
 */
export function runGit(args: readonly string[], opts: RunGitOptions): Promise<GitResult> {
  return inSpan(`git ${subcommand(args)}`, {}, (span) => runGitNow(args, opts, (ms) => span.setAttribute(Attr.gitSpawnMs, ms)));
}

function runGitNow(args: readonly string[], opts: RunGitOptions, spawned: (ms: number) => void): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(
      'git',
      [...args],
      {
        cwd: opts.cwd,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
        signal: opts.signal,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const aborted = opts.signal?.aborted === true || error.name === 'AbortError';
        const errStderr = String(stderr ?? '').trim();
        const exitCode = typeof error.code === 'number' ? error.code : null;
        const detail = errStderr || error.message;
        const command = `git ${subcommand(args)}`;
        reject(
          new GitCommandError(
            aborted ? `${command} aborted` : `${command} failed: ${detail}`,
            args,
            errStderr,
            exitCode,
            aborted,
          ),
        );
      },
    );
    spawned(performance.now() - t0);
  });
}

/** The git subcommand name, skipping leading `-c key=value` and other global options. */
function subcommand(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '-c' || arg === '-C') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return '';
}
