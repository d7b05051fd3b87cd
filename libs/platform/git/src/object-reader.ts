import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** One object read from a repository. */
export interface GitObject {
  /** `blob`, `tree`, `commit` or `tag`. */
  type: string;
  /** The object's full id. */
  oid: string;
  content: Buffer;
}

interface Pending {
  resolve: (o: GitObject | null) => void;
  reject: (e: Error) => void;
}

/**
 * Reads objects of one repository through a long-running `git cat-file --batch`: after the
 * first read, an object costs a line written to a pipe and its bytes read back, not a
 * process. Requests are pipelined (many may be in flight; answers come in order). A
 * long-running process sees objects fetched after it started (git looks for loose objects
 * on disk and rescans packs on a miss).
 *
 * For the pool-manager, which checks builds out ahead of time many times a minute: each
 * `git` it spawned stopped its event loop for 10–40 ms on a loaded host (fork, then a wait
 * until the child had exec'd).
 */
export class GitObjectReader {
  private proc: ChildProcessWithoutNullStreams | null = null;
  private readonly queue: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;

  constructor(private readonly gitDir: string) {}

  /**
   * The object named by `rev` (an id, or `<id>^{tree}`), or null when the repository lacks
   * it. Rejects when the reader's process fails.
   */
  read(rev: string): Promise<GitObject | null> {
    if (this.closed) return Promise.reject(new Error('git object reader closed'));
    if (/[\n\r]/.test(rev)) return Promise.reject(new Error(`invalid object name '${rev}'`));
    const proc = this.proc ?? this.start();
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) this.hold(proc, true);
      this.queue.push({ resolve, reject });
      proc.stdin.write(`${rev}\n`);
    });
  }

  /** Ends the process; reads in flight reject. */
  close(): void {
    this.closed = true;
    this.stop(new Error('git object reader closed'));
  }

  private start(): ChildProcessWithoutNullStreams {
    const proc = spawn('git', ['--git-dir', this.gitDir, 'cat-file', '--batch'], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc = proc;
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    proc.stdout.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.drain();
    });
    // a failed write (the process died) is reported by 'exit' or 'error'
    proc.stdin.on('error', () => undefined);
    const fail = (why: string) => {
      if (this.proc !== proc) return;
      this.stop(new Error(`git cat-file in ${this.gitDir} ${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    };
    proc.on('error', (e) => fail(`failed: ${e.message}`));
    proc.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`})`));
    this.hold(proc, false);
    return proc;
  }

  /** Keeps this process alive while reads wait for answers, and not for an idle reader. */
  private hold(proc: ChildProcessWithoutNullStreams, yes: boolean): void {
    for (const h of [proc, proc.stdin, proc.stdout, proc.stderr] as unknown as { ref?: () => void; unref?: () => void }[]) {
      if (yes) h.ref?.();
      else h.unref?.();
    }
  }

  /** Parses every complete answer in the buffer, in request order. */
  private drain(): void {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const header = this.buf.subarray(0, nl).toString('utf8');
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        this.buf = this.buf.subarray(nl + 1);
        this.queue.shift()?.resolve(null);
        if (this.queue.length === 0 && this.proc) this.hold(this.proc, false);
        continue;
      }
      const m = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(header);
      if (!m) {
        this.stop(new Error(`git cat-file in ${this.gitDir} answered '${header.slice(0, 200)}'`));
        return;
      }
      const size = Number(m[3]);
      if (this.buf.length < nl + 1 + size + 1) return; // the rest of the object is still coming
      const content = Buffer.from(this.buf.subarray(nl + 1, nl + 1 + size));
      this.buf = this.buf.subarray(nl + 1 + size + 1);
      this.queue.shift()?.resolve({ oid: m[1]!, type: m[2]!, content });
      if (this.queue.length === 0 && this.proc) this.hold(this.proc, false);
    }
  }

  /** Ends the process (a new one starts on the next read, unless closed) and rejects what waits. */
  private stop(reason: Error): void {
    const proc = this.proc;
    this.proc = null;
    this.buf = Buffer.alloc(0);
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.stdin.end();
      proc.kill();
    }
    for (const p of this.queue.splice(0)) p.reject(reason);
  }
}
