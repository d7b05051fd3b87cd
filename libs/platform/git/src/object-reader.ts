import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** One object read from a repository. */
export interface GitObject {
  /** `blob`, `tree`, `commit` or `tag`. */
  type: string;
  /** The object's full id. */
  oid: string;
  /** Its size in bytes. */
  size: number;
  /** Its bytes; null when it is larger than the reader keeps (see {@link GitObjectReader}). */
  content: Buffer | null;
}

/** An answer being read: its header is parsed, its bytes (and the closing newline) are coming. */
interface Incoming {
  type: string;
  oid: string;
  size: number;
  content: Buffer | null;
  /** Bytes received so far, the closing newline included. */
  filled: number;
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
  /** The start of an answer's header line, until its newline arrives. */
  private head: Buffer = Buffer.alloc(0);
  private incoming: Incoming | null = null;
  private closed = false;

  /**
   * @param maxObjectBytes objects larger than this are answered without their bytes (which
   *   are read and dropped): what a caller holds at once stays bounded, whatever a
   *   repository holds.
   */
  constructor(
    private readonly gitDir: string,
    private readonly maxObjectBytes = 8 * 1024 * 1024,
  ) {}

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
    proc.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
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

  /** Parses answers as their bytes arrive, in request order; each object's bytes are copied once. */
  private receive(chunk: Buffer): void {
    while (chunk.length > 0) {
      const cur = this.incoming;
      if (cur) {
        const take = Math.min(cur.size + 1 - cur.filled, chunk.length);
        if (cur.content && cur.filled < cur.size) chunk.copy(cur.content, cur.filled, 0, Math.min(take, cur.size - cur.filled));
        cur.filled += take;
        chunk = chunk.subarray(take);
        if (cur.filled === cur.size + 1) {
          this.incoming = null;
          this.answer({ type: cur.type, oid: cur.oid, size: cur.size, content: cur.content });
        }
        continue;
      }
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.head = Buffer.concat([this.head, chunk]);
        return;
      }
      const header = Buffer.concat([this.head, chunk.subarray(0, nl)]).toString('utf8');
      this.head = Buffer.alloc(0);
      chunk = chunk.subarray(nl + 1);
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        this.answer(null);
        continue;
      }
      const m = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(header);
      if (!m) {
        this.stop(new Error(`git cat-file in ${this.gitDir} answered '${header.slice(0, 200)}'`));
        return;
      }
      const size = Number(m[3]);
      this.incoming = { oid: m[1]!, type: m[2]!, size, content: size <= this.maxObjectBytes ? Buffer.allocUnsafe(size) : null, filled: 0 };
    }
  }

  private answer(o: GitObject | null): void {
    this.queue.shift()?.resolve(o);
    if (this.queue.length === 0 && this.proc) this.hold(this.proc, false);
  }

  /** Ends the process (a new one starts on the next read, unless closed) and rejects what waits. */
  private stop(reason: Error): void {
    const proc = this.proc;
    this.proc = null;
    this.head = Buffer.alloc(0);
    this.incoming = null;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.stdin.end();
      proc.kill();
    }
    for (const p of this.queue.splice(0)) p.reject(reason);
  }
}
