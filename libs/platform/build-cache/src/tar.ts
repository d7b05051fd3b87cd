import { spawn, ChildProcess } from 'node:child_process';

/** `tar -cz` of `paths` (relative to `dir`) as a stream on stdout; resolves `done` with tar's result. */
export function tarCreate(dir: string, paths: string[]): { child: ChildProcess; done: Promise<void> } {
  const child = spawn('tar', ['-cz', '-f', '-', '-C', dir, '--', ...paths], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, done: finished(child, 'tar -c') };
}

/** `tar -xz` into `dir` from stdin. */
export function tarExtract(dir: string): { child: ChildProcess; done: Promise<void> } {
  const child = spawn('tar', ['-xz', '-f', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  return { child, done: finished(child, 'tar -x') };
}

function finished(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`${what} could not start: ${e.message}`)));
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`))));
  });
}
