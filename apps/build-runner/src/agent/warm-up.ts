import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The agent's warm-up: the tools a build needs answer, the workspace root is writable,
 * and the optional user warm-up command succeeds within its timeout (a hanging one keeps
 * the worker cold until then). Returns the checks that passed; throws with the one that failed.
 */
export async function warmUp(workRoot: string, command: string | null = null, timeoutMs = 600_000, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
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
  if (command) {
    await runWarmupCommand(command, workRoot, timeoutMs, env);
    checks.push(`warm-up command succeeded: ${command}`);
  }
  return checks;
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
