import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The services a platform run starts (build-runner agents are started by the pool-manager). */
export const SERVICES = ['api', 'ingest', 'scheduler', 'pool-manager', 'log-store', 'deployer', 'git-status'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The variable holding each service's HTTP port (libs/platform/config), and its default. */
export const PORT_KEYS: Record<ServiceName, [key: string, fallback: number]> = {
  api: ['KILN_API_PORT', 8080],
  ingest: ['KILN_INGEST_PORT', 8081],
  'log-store': ['KILN_LOG_STORE_PORT', 8082],
  scheduler: ['KILN_SCHEDULER_PORT', 8083],
  'pool-manager': ['KILN_POOL_MANAGER_PORT', 8084],
  deployer: ['KILN_DEPLOYER_PORT', 8085],
  'git-status': ['KILN_GIT_STATUS_PORT', 8086],
};

export interface PlatformOptions {
  /** Environment for every service (NATS_URL, DATABASE_URL, KILN_* ports and namespace). */
  env: NodeJS.ProcessEnv;
  /** Receives each service's output line (structured JSON); default: dropped. */
  onLine?: (service: string, line: string) => void;
  root?: string;
}

export interface RunningService {
  name: ServiceName;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function workspaceRootFromTools(): string {
  // this file runs from dist/tools/platform or tools/platform (ts-jest)
  const here = __dirname;
  return here.includes(`${join('dist', 'tools')}`) ? resolve(here, '../../..') : resolve(here, '../..');
}

/** Starts one compiled service as a child process. */
export function startService(name: ServiceName, opts: PlatformOptions): RunningService {
  const root = opts.root ?? workspaceRootFromTools();
  const child = spawn(process.execPath, ['-r', join(root, 'tools', 'register-paths.js'), join(root, 'dist', 'apps', name, 'src', 'main.js')], {
    cwd: root,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const s of [child.stdout!, child.stderr!]) {
    createInterface({ input: s }).on('line', (line) => opts.onLine?.(name, line));
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { name, child, exited };
}

/** Waits until `url` answers 200 (a service's `/readyz`). */
export async function waitReady(url: string, timeoutMs = 30_000, exited?: Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void exited?.then(() => (dead = true));
  let last = '';
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${url}: the service exited before it was ready`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `${r.status} ${await r.text()}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${last}`);
}

/** Stops a service gracefully (SIGTERM), then forcibly after `graceMs`. */
export async function stopService(s: RunningService, graceMs = 10_000): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
  await s.exited;
  clearTimeout(t);
}

export function portsOf(env: NodeJS.ProcessEnv): Record<ServiceName, number> {
  return Object.fromEntries(SERVICES.map((n) => [n, Number(env[PORT_KEYS[n][0]] ?? PORT_KEYS[n][1])])) as Record<ServiceName, number>;
}

/** Starts every service and waits until each is ready. */
export async function startPlatform(opts: PlatformOptions): Promise<{ services: Map<ServiceName, RunningService>; stop(): Promise<void> }> {
  const services = new Map<ServiceName, RunningService>();
  const ports = portsOf(opts.env);
  for (const name of SERVICES) services.set(name, startService(name, opts));
  try {
    await Promise.all(SERVICES.map((n) => waitReady(`http://127.0.0.1:${ports[n]}/readyz`, 60_000, services.get(n)!.exited)));
  } catch (e) {
    await Promise.all([...services.values()].map((s) => stopService(s, 2000)));
    throw e;
  }
  return {
    services,
    async stop() {
      // api and ingest first (no new work), then the pool (its agents), then the rest
      await Promise.all(['api', 'ingest'].map((n) => stopService(services.get(n as ServiceName)!)));
      await stopService(services.get('pool-manager')!);
      await Promise.all(['scheduler', 'log-store', 'deployer', 'git-status'].map((n) => stopService(services.get(n as ServiceName)!)));
    },
  };
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Free ports for every service and the edge router, as their `KILN_*_PORT` variables. */
export async function freePortEnv(): Promise<Record<string, string>> {
  const keys = [...SERVICES.map((n) => PORT_KEYS[n][0]), 'KILN_EDGE_PORT'];
  const ports = await Promise.all(keys.map(() => freePort()));
  return Object.fromEntries(keys.map((k, i) => [k, String(ports[i])]));
}

/**
 * Starts the platform on free ports (`env` with the ports added); once more on fresh ports
 * if a service died at start: two runs side by side can be handed the same free port
 * between probe and bind.
 */
export async function startPlatformOnFreePorts(
  env: NodeJS.ProcessEnv,
  opts: Omit<PlatformOptions, 'env'> & { onRetry?: (reason: string) => void } = {},
): Promise<{ env: NodeJS.ProcessEnv; platform: Awaited<ReturnType<typeof startPlatform>> }> {
  const once = async () => {
    const withPorts = { ...env, ...(await freePortEnv()) };
    return { env: withPorts, platform: await startPlatform({ ...opts, env: withPorts }) };
  };
  try {
    return await once();
  } catch (e) {
    opts.onRetry?.((e as Error).message);
    return once();
  }
}
