import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { LineSplitter } from './line-splitter';

/** One line of step output. */
export interface StepOutputLine {
  /** Which pipe the line came from. */
  stream: 'stdout' | 'stderr';
  /** Line text without its line terminator. */
  text: string;
  /**
   * Set when the line was longer than `maxLineBytes` and this is a piece of it that the
   * next line of the same stream continues (masking joins such pieces).
   */
  partial?: true;
}

/** How a step ended. */
export type StepOutcome = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** Options for {@link runStep}. */
export interface RunStepOptions {
  /** Script, run as `bash -eo pipefail -c <run>`. */
  run: string;
  /** Working directory (the checkout). */
  cwd: string;
  /** The complete environment of the step; nothing is inherited from the runner. */
  env: Record<string, string>;
  /** Kill the step after this many milliseconds (outcome `timed_out`). */
  timeoutMs?: number;
  /** Kill the step when aborted (outcome `cancelled`). */
  signal?: AbortSignal;
  /** Receives every output line, in order per stream. */
  onLine: (line: StepOutputLine) => void;
  /** Time between SIGTERM and SIGKILL of the process group (default 2000 ms). */
  killGraceMs?: number;
  /** Longest line in bytes before it is split (default 64 KiB). */
  maxLineBytes?: number;
}

/** Result of {@link runStep}. */
export interface StepResult {
  /** Exit code of bash, or null when it was killed by a signal or could not start. */
  exitCode: number | null;
  /** `timed_out` / `cancelled` win over the exit code once the runner started killing the step. */
  outcome: StepOutcome;
  /** Wall time from spawn until the process exited and its output was fully read. */
  durationMs: number;
}

/** Default time between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 2000;

/** After SIGKILL, how long to wait for the output pipes before giving up on them. */
const PIPE_GIVE_UP_MS = 1000;

/**
 * Runs one step script in its own process group and streams its output line by line.
 *
 * On timeout or abort the whole process group (including background jobs and grandchildren)
 * gets SIGTERM, then SIGKILL after `killGraceMs`. Processes the script leaves running in its
 * group when bash exits are terminated the same way, since they would otherwise hold the output
 * pipes open. Resolves (never rejects) once bash exited and both output pipes closed.
 */
export function runStep(opts: RunStepOptions): Promise<StepResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const graceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;

  if (opts.signal?.aborted) {
    return Promise.resolve({ exitCode: null, outcome: 'cancelled', durationMs: 0 });
  }

  return new Promise<StepResult>((resolve) => {
    const splitOptions = { maxLineBytes: opts.maxLineBytes };
    const stdout = new LineSplitter((text, partial) => opts.onLine(partial ? { stream: 'stdout', text, partial } : { stream: 'stdout', text }), splitOptions);
    const stderr = new LineSplitter((text, partial) => opts.onLine(partial ? { stream: 'stderr', text, partial } : { stream: 'stderr', text }), splitOptions);
    let stopReason: 'timed_out' | 'cancelled' | null = null;
    let exited = false;
    let exitCode: number | null = null;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    let killScheduled = false;

    let child: ChildProcess;
    try {
      child = spawn('bash', ['-eo', 'pipefail', '-c', opts.run], {
        cwd: opts.cwd,
        env: opts.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      opts.onLine({ stream: 'stderr', text: `failed to start step: ${errorMessage(err)}` });
      resolve({ exitCode: null, outcome: 'failed', durationMs: elapsed() });
      return;
    }

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const scheduleKill = () => {
      if (killScheduled) return;
      killScheduled = true;
      timers.push(
        setTimeout(() => {
          killGroup('SIGKILL');
          // A process that left the group (setsid) may still hold the pipes: stop waiting for them.
          timers.push(
            setTimeout(() => {
              child.stdout?.destroy();
              child.stderr?.destroy();
            }, PIPE_GIVE_UP_MS),
          );
        }, graceMs),
      );
    };
    const stop = (reason: 'timed_out' | 'cancelled') => {
      if (exited || stopReason) return;
      stopReason = reason;
      killGroup('SIGTERM');
      scheduleKill();
    };
    const onAbort = () => stop('cancelled');
    const finish = (result: StepResult) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };

    if (opts.timeoutMs !== undefined) timers.push(setTimeout(() => stop('timed_out'), Math.max(0, opts.timeoutMs)));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

    child.on('exit', (code) => {
      exited = true;
      exitCode = code;
      // Leftover background jobs would keep the pipes open: end them like a timeout would.
      killGroup('SIGTERM');
      scheduleKill();
    });
    child.on('error', (err) => {
      if (child.pid === undefined) {
        opts.onLine({ stream: 'stderr', text: `failed to start step: ${err.message} (cwd: ${opts.cwd})` });
        finish({ exitCode: null, outcome: 'failed', durationMs: elapsed() });
      }
    });
    child.on('close', () => {
      stdout.end();
      stderr.end();
      const outcome: StepOutcome = stopReason ?? (exitCode === 0 ? 'succeeded' : 'failed');
      finish({ exitCode, outcome, durationMs: elapsed() });
    });
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
