import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { createServer } from 'node:net';
import type { DeploySpec } from '@kiln/contracts';
import { ExitCallback, InstanceRef, InstanceRuntime, RunningInstance, StartInstanceRequest } from './instance-runtime';

export type { ExitCallback, RunningInstance } from './instance-runtime';

/** Environment variables an instance inherits from the deployer; everything else is left out. */
export const INSTANCE_ENV_ALLOWLIST = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS'];

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

const TAIL_LINES = 3;

/**
 * An instance started by this deployer: its own process group, its stdout and stderr written
 * straight to its log file (not through pipes to the deployer, so it keeps running, output
 * and all, when the deployer is killed; the next deployer adopts it).
 */
export class InstanceProcess implements RunningInstance {
  stopping = false;
  private readonly callbacks: ExitCallback[] = [];
  private exitReason: string | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    readonly instanceId: string,
    readonly deployId: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly logFile: string,
  ) {
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        const last = this.stopping ? '' : lastLines(this.logFile, TAIL_LINES).join(' | ');
        this.exitReason = (signal ? `killed by ${signal}` : `exited with code ${code}`) + (last ? ` (last output: ${last})` : '');
        for (const cb of this.callbacks) cb(this.exitReason);
        resolve();
      });
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
    Object.assign(env, opts.env, { PORT: String(opts.port), KILN_INSTANCE_ID: opts.instanceId, KILN_DEPLOY_ID: opts.deployId });
    const out = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('bash', ['-c', opts.command], { cwd: opts.cwd, env, detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out); // the child has its own copy
    }
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new Error(`cannot start "${opts.command}" in ${opts.cwd}`);
    }
    // the deployer may exit before its instances: they must not keep it alive
    child.unref();
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

/** The last `n` non-empty lines of a file (each cut at 300 characters); [] when it cannot be read. */
export function lastLines(file: string, n: number, maxBytes = 8192): string[] {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
    // the first line may be cut in the middle when the file is longer than maxBytes
    if (size > len) lines.shift();
    return lines.slice(-n).map((l) => (l.length > 300 ? l.slice(0, 300) + '…' : l));
  } catch {
    return [];
  } finally {
    if (fd !== null) closeSync(fd);
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
    await terminate(this.pid, this.instanceId, graceMs);
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

/**
 * Whether any process of the instance's process group still runs: its leader `pgid`, or (where
 * `/proc` can be read) another member carrying its `KILN_INSTANCE_ID` (a shell's child that
 * outlived the shell).
 */
export function instanceGroupAlive(pgid: number, instanceId: string): boolean {
  if (isInstanceProcess(pgid, instanceId)) return true;
  if (!HAS_PROC) return false;
  return scanInstances((p) => p.pgid === pgid && p.instanceId === instanceId).length > 0;
}

/** SIGTERM to the instance's process group, SIGKILL after `graceMs` if any of it is left; resolves when it is gone. */
export async function terminate(pgid: number, instanceId: string, graceMs: number): Promise<void> {
  if (!instanceGroupAlive(pgid, instanceId)) return;
  killGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    if (!instanceGroupAlive(pgid, instanceId)) return;
  }
  killGroup(pgid, 'SIGKILL');
  const killed = Date.now() + 2000;
  while (instanceGroupAlive(pgid, instanceId) && Date.now() < killed) await new Promise((r) => setTimeout(r, 20));
}

interface ScannedProcess {
  pid: number;
  pgid: number;
  instanceId: string;
  deployId: string | null;
}

/** The processes of this machine that are instances (their environment has `KILN_INSTANCE_ID`); [] without `/proc`. */
function scanInstances(keep: (p: ScannedProcess) => boolean): ScannedProcess[] {
  if (!HAS_PROC) return [];
  const found: ScannedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const instanceId = env.find((v) => v.startsWith('KILN_INSTANCE_ID='))?.slice('KILN_INSTANCE_ID='.length);
      if (!instanceId) continue;
      const deployId = env.find((v) => v.startsWith('KILN_DEPLOY_ID='))?.slice('KILN_DEPLOY_ID='.length) ?? null;
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      const p = { pid: Number(entry), pgid, instanceId, deployId };
      if (keep(p)) found.push(p);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Default time between two checks that an adopted instance still runs. */
const ADOPTED_POLL_MS = 1000;

/**
 * The process runtime: `deploy.start` runs as `bash -c` in the release directory, in its own
 * process group, with `PORT` a free port of 127.0.0.1 and only {@link INSTANCE_ENV_ALLOWLIST}
 * of the deployer's environment. An instance is recognised later by its pid and the
 * `KILN_INSTANCE_ID` in its environment (so a recycled pid is never taken for it).
 */
export class ProcessRuntime implements InstanceRuntime {
  readonly kind = 'process';

  constructor(private readonly opts: { inherit?: NodeJS.ProcessEnv; adoptedPollMs?: number } = {}) {}

  async unavailable(spec: DeploySpec): Promise<string | null> {
    return spec.start ? null : 'the process runtime runs deploy.start, and this deploy has none';
  }

  async start(req: StartInstanceRequest): Promise<RunningInstance> {
    return InstanceProcess.spawn({
      instanceId: req.instanceId,
      deployId: req.deployId,
      command: req.spec.start!,
      cwd: req.releaseDir,
      port: await freePort(),
      logFile: req.logFile,
      env: req.env,
      inherit: this.opts.inherit,
    });
  }

  async adopt(ref: InstanceRef): Promise<RunningInstance | null> {
    if (!isInstanceProcess(ref.pid, ref.instanceId)) return null;
    return new AdoptedInstance(ref.instanceId, ref.deployId, ref.pid, ref.port, this.opts.adoptedPollMs ?? ADOPTED_POLL_MS);
  }

  async reap(ref: Pick<InstanceRef, 'instanceId' | 'pid'>, graceMs: number): Promise<void> {
    await terminate(ref.pid, ref.instanceId, graceMs);
  }

  async strays(deployIds: ReadonlySet<string>): Promise<Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'>[]> {
    const byInstance = new Map<string, Pick<InstanceRef, 'instanceId' | 'deployId' | 'pid'>>();
    for (const p of scanInstances((x) => x.deployId !== null && deployIds.has(x.deployId))) {
      byInstance.set(p.instanceId, { instanceId: p.instanceId, deployId: p.deployId!, pid: p.pgid });
    }
    return [...byInstance.values()];
  }
}
