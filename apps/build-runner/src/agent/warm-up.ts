import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { inSpan } from '@kiln/telemetry';

const run = promisify(execFile);

/** What the warm-up needs of the build cache (the agent passes the real store). */
export interface CacheWarmUp {
  /** Resolves with a description once the cache answered; rejects when it cannot. */
  reachable(): Promise<string>;
  /**
   * Copies the most used cache entries to this worker's disk (pool warm-up); resolves with
   * a description and any entries that could not be copied. Absent: no prefetch.
   */
  prefetch?: (signal: AbortSignal) => Promise<{ check: string; warnings: string[] }>;
  /** How long the prefetch may take before it is abandoned (ms). */
  prefetchTimeoutMs: number;
}

export interface WarmUpOptions {
  /** The worker's own directory: must be writable. */
  workRoot: string;
  /** The user's warm-up command (`KILN_POOL_WARMUP_COMMAND`), run with bash in `workRoot`. */
  command?: string | null;
  /**
   * How long the user command, and separately the cache check, may take (ms). A check
   * that has not answered keeps the worker cold until then, and then fails.
   */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cache?: CacheWarmUp | null;
  /** Told about what went wrong without failing the warm-up (a prefetch that failed). */
  warn?: (message: string, detail: Record<string, unknown>) => void;
}

/** Pause between tries of a cache that timed out (a broker restarting, a slow leader election). */
const CACHE_RETRY_MS = 1000;

/**
 * The agent's warm-up: the tools a build needs answer, the workspace root is writable,
 * the build cache answers, the most used cache entries are copied to this worker (if
 * configured; a failure there is logged and the worker goes warm without them), and the
 * optional user warm-up command succeeds within its timeout. A check that hangs keeps the
 * worker cold until its timeout. Returns the checks that passed; throws with the one that
 * failed.
 */
export async function warmUp(opts: WarmUpOptions): Promise<string[]> {
  const { workRoot, command = null, timeoutMs = 600_000, env = process.env, cache = null, warn = () => undefined } = opts;
  const checks: string[] = [];
  const git = await run('git', ['--version']).catch((e) => {
    throw new Error(`git is not available: ${(e as Error).message}`);
  });
  checks.push(git.stdout.trim());
  const bash = await run('bash', ['--version']).catch((e) => {
    throw new Error(`bash is not available: ${(e as Error).message}`);
  });
  checks.push(bash.stdout.split('\n')[0].trim());
  mkdirSync(workRoot, { recursive: true });
  accessSync(workRoot, constants.W_OK);
  checks.push(`workspace ${workRoot} writable`);
  if (cache) {
    // spans: a check that is slow to answer keeps the worker cold, and a cold build waits for it
    checks.push(await inSpan('agent.cache-reachable', {}, () => cacheReachable(cache, timeoutMs, warn)));
    if (cache.prefetch) checks.push(await inSpan('agent.cache-prefetch', {}, () => prefetch(cache, warn)));
  }
  if (command) {
    await runWarmupCommand(command, workRoot, timeoutMs, env);
    checks.push(`warm-up command succeeded: ${command}`);
  }
  return checks;
}

/**
 * Asks the cache until it answers: an error fails at once, a time-out (nothing answered)
 * is tried again until `timeoutMs`, so a cache that hangs keeps the worker cold that long.
 */
async function cacheReachable(cache: CacheWarmUp, timeoutMs: number, warn: NonNullable<WarmUpOptions['warn']>): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    const asked = Date.now();
    try {
      return await within(cache.reachable(), deadline - Date.now());
    } catch (e) {
      if (!isTimeout(e)) throw new Error(`cache is not reachable: ${(e as Error).message}`);
      last = (e as Error).message;
      warn('the cache did not answer in time; asking again', { reason: last, waitedMs: Date.now() - asked });
      await new Promise((r) => setTimeout(r, Math.min(CACHE_RETRY_MS, Math.max(0, deadline - Date.now()))));
    }
  }
  throw new Error(`cache did not answer within ${timeoutMs} ms (${last})`);
}

class TimedOut extends Error {
  override name = 'TimedOut';
  readonly code = 'TIMEOUT';
}

function isTimeout(e: unknown): boolean {
  return e instanceof TimedOut || (e as { code?: unknown })?.code === 'TIMEOUT';
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimedOut('no answer')), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Runs the prefetch within its timeout; never throws: a worker without the copies is still a worker. */
async function prefetch(cache: CacheWarmUp, warn: NonNullable<WarmUpOptions['warn']>): Promise<string> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`cache prefetch took longer than ${cache.prefetchTimeoutMs} ms`)), cache.prefetchTimeoutMs);
  try {
    const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }));
    const r = await Promise.race([cache.prefetch!(ac.signal), aborted]);
    for (const w of r.warnings) warn('cache prefetch: an entry was not copied', { reason: w });
    return r.check;
  } catch (e) {
    ac.abort(e);
    warn('cache prefetch failed; the worker goes warm without it', { reason: (e as Error).message });
    return `cache prefetch failed (warm without it): ${(e as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the user's warm-up command in its own process group; rejects on failure or timeout. */
function runWarmupCommand(command: string, cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', command], { cwd, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      reject(new Error(`warm-up command timed out after ${timeoutMs} ms: ${command}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`warm-up command could not start: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`warm-up command failed (${signal ?? `exit ${code}`}): ${command}${stderr ? ` — ${stderr.trim()}` : ''}`));
    });
  });
}
