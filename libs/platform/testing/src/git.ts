import { execFileSync } from 'node:child_process';

/** Environment for git in tests: a fixed author and committer, and no system-wide config. */
export const gitTestEnv: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Kiln Test',
  GIT_AUTHOR_EMAIL: 'test@kiln.invalid',
  GIT_COMMITTER_NAME: 'Kiln Test',
  GIT_COMMITTER_EMAIL: 'test@kiln.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
};

/** Runs real git in `cwd` with {@link gitTestEnv}; its trimmed stdout. */
export function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitTestEnv, encoding: 'utf8' }).trim();
}
