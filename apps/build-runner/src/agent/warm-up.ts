import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The agent's warm-up: the tools a build needs answer and the workspace root is
 * writable. Returns the checks that passed; throws with the one that failed.
 */
export async function warmUp(workRoot: string): Promise<string[]> {
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
  return checks;
}
