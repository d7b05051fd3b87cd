import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { ConfigKeys } from '@kiln/config';
import { Logger } from '@kiln/telemetry';
import { WorkerDriver } from './driver';

/** Environment variables an agent may inherit; everything else is left out. */
export const AGENT_ENV_ALLOWLIST = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
  'SSL_CERT_FILE',
  'NODE_EXTRA_CA_CERTS',
  ConfigKeys.natsUrl,
  ConfigKeys.namespace,
  ConfigKeys.heartbeatMs,
  ConfigKeys.secretKey,
  ConfigKeys.poolEphemeral,
  ConfigKeys.poolWarmupCommand,
  ConfigKeys.poolWarmupTimeoutMs,
  ConfigKeys.heartbeatMisses,
  ConfigKeys.cacheMaxBytes,
  ConfigKeys.cacheMaxAgeMs,
  ConfigKeys.poolCachePrefetch,
  ConfigKeys.poolCachePrefetchBytes,
  ConfigKeys.poolCachePrefetchTimeoutMs,
  ConfigKeys.logMaxBytes,
  ConfigKeys.gitMirrorDir,
  ConfigKeys.cacheBackend,
  ConfigKeys.agentCodeCacheDir,
  'KILN_LOG_LEVEL',
  'KILN_SPAN_LOG',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
];

/** The workspace root: the folder holding `tools/register-paths.js` above this file. */
export function workspaceRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'tools', 'register-paths.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the Kiln workspace root above ${from}`);
    dir = up;
  }
  return dir;
}

/** Where `npm run build` bundles the agent (tools/bundle-agent.js). */
export const AGENT_BUNDLE = join('dist', 'agent', 'build-runner.js');
/** The loader beside the bundle that starts it through V8's code cache (tools/agent-start.js). */
export const AGENT_START = join('dist', 'agent', 'start-build-runner.js');

/**
 * Node's arguments to start an agent: the bundled agent when the build made one (about
 * 0.5 s of CPU to start instead of 0.8 s: no module resolution over ~1,400 files), through
 * its code-cache loader when there is one (~0.1 s less per agent once a build wrote the
 * cache), else the compiled sources through the workspace's path mapping.
 */
export function agentCommand(root: string): string[] {
  const bundle = resolve(root, AGENT_BUNDLE);
  const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : null);
  const bundled = mtime(bundle);
  // a bundle older than the last compile (tsc run alone) would run stale code
  const compiled = mtime(resolve(root, 'dist', '.tsbuildinfo'));
  if (bundled !== null && (compiled === null || bundled >= compiled)) {
    const start = resolve(root, AGENT_START);
    return [existsSync(start) ? start : bundle];
  }
  return ['-r', join(root, 'tools', 'register-paths.js'), resolve(root, 'dist/apps/build-runner/src/main.js')];
}

/**
 * The default driver: each agent is a local Node process in its own working directory
 * and process group, with an environment reduced to an allowlist.
 */
export class ProcessDriver implements WorkerDriver {
  readonly name = 'process';
  private readonly children = new Map<string, ChildProcess>();
  private exitCb: (workerId: string, detail: string) => void = () => undefined;
  private readonly root = workspaceRoot();

  constructor(
    private readonly workRoot: string,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async start(workerId: string): Promise<void> {
    const dir = join(this.workRoot, workerId);
    mkdirSync(dir, { recursive: true });
    const env: NodeJS.ProcessEnv = {};
    for (const k of AGENT_ENV_ALLOWLIST) if (this.env[k] !== undefined) env[k] = this.env[k];
    env[ConfigKeys.workerId] = workerId;
    env[ConfigKeys.workRoot] = dir;
    const child = spawn(process.execPath, agentCommand(this.root), { cwd: dir, env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
    this.children.set(workerId, child);
    child.on('exit', (code, signal) => {
      this.children.delete(workerId);
      rmSync(dir, { recursive: true, force: true });
      this.exitCb(workerId, signal ? `agent killed by ${signal}` : `agent exited with code ${code}`);
    });
    child.on('error', (e) => this.log.error('agent failed to start', { workerId, err: e }));
  }

  async stop(workerId: string): Promise<void> {
    const child = this.children.get(workerId);
    if (!child?.pid) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 3000);
    await exited;
    clearTimeout(timer);
  }

  onExit(cb: (workerId: string, detail: string) => void): void {
    this.exitCb = cb;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.stop(id)));
  }

  /** Process ids of running agents (tests). */
  pids(): Map<string, number> {
    return new Map([...this.children].map(([id, c]) => [id, c.pid ?? -1]));
  }
}
