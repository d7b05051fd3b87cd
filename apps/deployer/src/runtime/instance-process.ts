import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

/** Environment variables an instance inherits from the deployer; everything else is left out. */
export const INSTANCE_ENV_ALLOWLIST = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS'];

/** Why an instance process ended: `exited with code 1 (last output: ...)`, `killed by SIGKILL`. */
export type ExitCallback = (reason: string) => void;

/** One running instance of a release: a process group on this machine listening on `port`. */
export interface RunningInstance {
  readonly instanceId: string;
  readonly deployId: string;
  readonly pid: number;
  readonly port: number;
  /** Set once Kiln itself is stopping it: its exit is expected, not a crash. */
  readonly stopping: boolean;
  /** Called once when the process ends (also when Kiln stopped it; check `stopping`). */
  onExit(cb: ExitCallback): void;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs: number): Promise<void>;
}

export interface SpawnInstanceOptions {
  instanceId: string;
  deployId: string;
  /** Shell command (`bash -c`); it must listen on `$PORT`. */
  command: string;
  cwd: string;
  port: number;
  /** Extra variables (`KILN_*`); `PORT` is set from `port`. */
  env: Record<string, string>;
  /** Appends the instance's stdout and stderr here. */
  logFile: string;
  /** Variables to inherit (default {@link INSTANCE_ENV_ALLOWLIST} from this process). */
  inherit?: NodeJS.ProcessEnv;
}

const TAIL_LINES = 8;

/** An instance started by this deployer: its own process group, output to a log file. */
export class InstanceProcess implements RunningInstance {
  stopping = false;
  private readonly tail: string[] = [];
  private readonly callbacks: ExitCallback[] = [];
  private exitReason: string | null = null;
  private readonly exited: Promise<void>;
  private readonly out: WriteStream;

  private constructor(
    readonly instanceId: string,
    readonly deployId: string,
    readonly port: number,
    private readonly child: ChildProcess,
    logFile: string,
  ) {
    this.out = createWriteStream(logFile, { flags: 'a' });
    for (const s of [child.stdout!, child.stderr!]) {
      createInterface({ input: s }).on('line', (line) => {
        this.out.write(line + '\n');
        this.tail.push(line.length > 300 ? line.slice(0, 300) + '…' : line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
      });
    }
    this.exited = new Promise<void>((resolve) => {
      // 'exit', not 'close': a crashed instance must leave rotation at once, even while a
      // grandchild still holds its output pipes
      child.once('exit', (code, signal) => {
        const last = this.tail.slice(-3).join(' | ');
        this.exitReason = (signal ? `killed by ${signal}` : `exited with code ${code}`) + (last && !this.stopping ? ` (last output: ${last})` : '');
        for (const cb of this.callbacks) cb(this.exitReason);
        resolve();
      });
      child.once('close', () => this.out.end());
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the command in its own process group; throws when it cannot be started. */
  static spawn(opts: SpawnInstanceOptions): InstanceProcess {
    const inherit = opts.inherit ?? process.env;
    const env: Record<string, string> = {};
    for (const k of INSTANCE_ENV_ALLOWLIST) if (inherit[k] !== undefined) env[k] = inherit[k]!;
    Object.assign(env, opts.env, { PORT: String(opts.port), KILN_INSTANCE_ID: opts.instanceId });
    const child = spawn('bash', ['-c', opts.command], { cwd: opts.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new Error(`cannot start "${opts.command}" in ${opts.cwd}`);
    }
    return new InstanceProcess(opts.instanceId, opts.deployId, opts.port, child, opts.logFile);
  }

  onExit(cb: ExitCallback): void {
    if (this.exitReason !== null) cb(this.exitReason);
    else this.callbacks.push(cb);
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.exitReason !== null) return;
    killGroup(this.pid, 'SIGTERM');
    const t = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * An instance started by an earlier run of the deployer and found alive at start: no child
 * handle, so its end is noticed by polling its pid (and by health checks).
 */
export class AdoptedInstance implements RunningInstance {
  stopping = false;
  private readonly callbacks: ExitCallback[] = [];
  private gone: string | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly instanceId: string,
    readonly deployId: string,
    readonly pid: number,
    readonly port: number,
    pollMs = 1000,
  ) {
    this.timer = setInterval(() => {
      if (!isInstanceProcess(this.pid, this.instanceId)) this.ended('exited (noticed by its pid)');
    }, pollMs);
    this.timer.unref();
  }

  onExit(cb: ExitCallback): void {
    if (this.gone !== null) cb(this.gone);
    else this.callbacks.push(cb);
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.gone !== null) return;
    killGroup(this.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isInstanceProcess(this.pid, this.instanceId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (isInstanceProcess(this.pid, this.instanceId)) killGroup(this.pid, 'SIGKILL');
    this.ended('stopped');
  }

  private ended(reason: string): void {
    if (this.gone !== null) return;
    this.gone = reason;
    clearInterval(this.timer);
    for (const cb of this.callbacks) cb(reason);
  }
}

/** Signals a whole process group; a group that is already gone is fine. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: gone
  }
}

/** Whether this system has `/proc` (Linux) to tell a recycled pid from an instance. */
const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/**
 * Whether `pid` is alive and is the instance `instanceId` (its environment carries
 * `KILN_INSTANCE_ID`, so a recycled pid is not mistaken for it). Where `/proc` cannot be read,
 * only liveness is checked.
 */
export function isInstanceProcess(pid: number, instanceId: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // gone (ESRCH) or someone else's (EPERM)
  }
  if (!HAS_PROC) return true;
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`KILN_INSTANCE_ID=${instanceId}`);
  } catch {
    return false;
  }
}

/** A TCP port free on 127.0.0.1 right now (the instance binds it shortly after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
