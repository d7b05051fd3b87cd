import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, cpSync } from 'node:fs';
import { dirname, join } from 'node:path';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Kiln Demo',
  GIT_AUTHOR_EMAIL: 'demo@kiln.local',
  GIT_COMMITTER_NAME: 'Kiln Demo',
  GIT_COMMITTER_EMAIL: 'demo@kiln.local',
  GIT_TERMINAL_PROMPT: '0',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

/** A real repository: a bare "remote" and a working copy that pushes to it. */
export class GitFixture {
  readonly bare: string;
  readonly work: string;

  constructor(readonly root: string, name = 'repo') {
    this.bare = join(root, `${name}.git`);
    this.work = join(root, `${name}-work`);
    mkdirSync(this.bare, { recursive: true });
    git(this.bare, 'init', '--bare', '-b', 'main');
    // a new working copy with the bare one as its origin (what cloning an empty repository does, without git's warning about it)
    mkdirSync(this.work, { recursive: true });
    git(this.work, 'init', '-q', '-b', 'main');
    git(this.work, 'remote', 'add', 'origin', this.bare);
  }

  /** Writes files (path → content), commits and pushes; returns the commit sha. */
  commit(files: Record<string, string>, message: string, branch = 'main'): string {
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.work, p)), { recursive: true });
      writeFileSync(join(this.work, p), content);
    }
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '-q', '-m', message);
    git(this.work, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
    return git(this.work, 'rev-parse', 'HEAD');
  }

  /** Copies a folder's files into the working copy, commits and pushes. */
  commitDir(dir: string, message: string): string {
    cpSync(dir, this.work, { recursive: true });
    git(this.work, 'add', '-A');
    // the same files again (a second `npm start`) still make a new commit to build
    git(this.work, 'commit', '-q', '--allow-empty', '-m', message);
    git(this.work, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
    return git(this.work, 'rev-parse', 'HEAD');
  }
}
