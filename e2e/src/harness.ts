import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kilnNames } from '@kiln/contracts';
import { aggregates, connectNats, EventStore } from '@kiln/event-store';
import { dropSchema } from '@kiln/persistence';
import { testDatabaseUrl, testNamespace, testNatsUrl } from '@kiln/testing';
import { githubPush } from '../../tools/platform/github-push';
import { freePort, PORT_KEYS, startPlatform, startPlatformOnFreePorts, startService, stopService, waitReady, ServiceName, RunningService } from '../../tools/platform/launch';

export const TOKEN = 'e2e-admin-token';

/** How long a platform's log is kept for diagnosis: every run writes one per platform, and they would pile up in the temp folder. */
const KEEP_LOGS_MS = 24 * 3600_000;

/** Removes the per-platform logs of runs older than {@link KEEP_LOGS_MS}. */
function pruneOldLogs(): void {
  const before = Date.now() - KEEP_LOGS_MS;
  for (const name of readdirSync(tmpdir())) {
    if (!/^kiln-e2e-e2e[\w-]+\.log$/.test(name)) continue;
    const path = join(tmpdir(), name);
    if ((statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < before) rmSync(path, { force: true });
  }
}

/** A whole Kiln platform on real NATS and PostgreSQL, in its own namespace and ports. */
export class Platform {
  env: NodeJS.ProcessEnv = {};
  namespace = testNamespace('e2e');
  tmp = mkdtempSync(join(tmpdir(), 'kiln-e2e-'));
  logs: string[] = [];
  private running!: Awaited<ReturnType<typeof startPlatform>>;

  get api(): string {
    return `http://127.0.0.1:${this.env.KILN_API_PORT}`;
  }

  /** The edge router (deployed environments: `Host: <environment>.localhost`). */
  get edge(): string {
    return `http://127.0.0.1:${this.env.KILN_EDGE_PORT}`;
  }

  /** Starts the platform on free ports (once more on fresh ports if one was taken meanwhile). */
  async start(extra: NodeJS.ProcessEnv = {}): Promise<void> {
    const base = {
      NATS_URL: testNatsUrl(),
      DATABASE_URL: testDatabaseUrl(),
      KILN_NAMESPACE: this.namespace,
      KILN_ADMIN_TOKEN: TOKEN,
      KILN_POOL_MIN_WARM: '2',
      KILN_WORK_ROOT: join(this.tmp, 'workers'),
      KILN_GIT_MIRROR_DIR: join(this.tmp, 'git-mirrors'),
      KILN_HEARTBEAT_MS: '1000',
      ...extra,
    };
    const started = await startPlatformOnFreePorts(base, {
      onLine: (s, l) => this.logs.push(`${s} ${l}`),
      onRetry: (reason) => this.logs.push(`harness: platform start failed (${reason}); retrying on fresh ports`),
    });
    this.env = started.env;
    this.running = started.platform;
    for (const [name, svc] of this.running.services) void svc.exited.then((code) => this.logs.push(`harness: ${name} exited (code ${code}, signal ${svc.child.signalCode})`));
  }

  service(name: ServiceName): RunningService {
    return this.running.services.get(name)!;
  }

  /** Kills a service with SIGKILL (no graceful shutdown) and starts it again. */
  async crashAndRestart(name: ServiceName): Promise<void> {
    const s = this.service(name);
    s.child.kill('SIGKILL');
    await s.exited;
    await this.restart(name);
  }

  /** Starts one more replica of a service on its own HTTP port; returns it (stop it yourself). */
  async replica(name: ServiceName): Promise<RunningService> {
    const port = await freePort();
    const key = PORT_KEYS[name][0];
    const s = startService(name, { env: { ...this.env, [key]: String(port) }, onLine: (svc, l) => this.logs.push(`${svc}#2 ${l}`) });
    await waitReady(`http://127.0.0.1:${port}/readyz`, 60_000, s.exited);
    return s;
  }

  /** Stops one service and starts it again (same env). */
  async restart(name: ServiceName, between?: () => Promise<void>): Promise<void> {
    await stopService(this.service(name));
    await between?.();
    const s = startService(name, { env: this.env, onLine: (svc, l) => this.logs.push(`${svc} ${l}`) });
    this.running.services.set(name, s);
    const port = PORT_KEYS[name][0];
    await waitReady(`http://127.0.0.1:${this.env[port]}/readyz`, 60_000, s.exited);
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    // every service's output of the last run, for diagnosis
    writeFileSync(join(tmpdir(), 'kiln-e2e-last.log'), this.logs.join('\n'));
    // and per platform: suites run side by side, and the last one to stop would hide the others
    writeFileSync(join(tmpdir(), `kiln-e2e-${this.namespace}.log`), this.logs.join('\n'));
    pruneOldLogs();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Stops every service and drops the platform's read-model schema: what each suite does last. */
  async dispose(): Promise<void> {
    await this.stop();
    await dropSchema(this.env.DATABASE_URL!, this.namespace).catch(() => undefined);
  }

  /** A worker's events as its stream holds them, read over a connection of the test's own. */
  async workerHistory(workerId: string) {
    const nc = await connectNats(testNatsUrl(), 'e2e-worker-history');
    try {
      const names = kilnNames(this.namespace);
      return (await (await EventStore.create(nc, names)).load(aggregates(names).worker, names.subjects.worker(workerId))).events;
    } finally {
      await nc.close();
    }
  }

  /** Sends a signed GitHub push webhook through the api's gateway to ingest; its answer and delivery id. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async githubPush(opts: Parameters<typeof githubPush>[0]): Promise<{ status: number; body: any; delivery: string }> {
    const p = githubPush(opts);
    const r = await fetch(`${this.api}/webhooks/github`, { method: 'POST', headers: p.headers, body: p.body });
    return { status: r.status, body: await r.json(), delivery: p.headers['x-github-delivery'] };
  }

  // test code reads API answers loosely; the API's own types are asserted by the tests
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const r = await fetch(this.api + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: r.status, body: parsed };
  }

  /** Waits (test-side) until `fn` returns a value that is not undefined. */
  async eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.logs.filter((l) => /"level":"(warn|error)"/.test(l)).slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async finalBuild(buildId: string, timeoutMs = 30_000): Promise<any> {
    return this.eventually(
      async () => {
        const r = await this.call('GET', `/api/builds/${buildId}`);
        return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(r.body?.status) ? r.body : undefined;
      },
      timeoutMs,
      `build ${buildId} to finish`,
    );
  }
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads a server-sent-events stream until `event: end` (or `max` events). */
export async function readSse(url: string, headers: Record<string, string> = {}, max = 100_000): Promise<SseEvent[]> {
  const r = await fetch(url, { headers });
  if (!r.ok || !r.body) throw new Error(`SSE ${url}: ${r.status} ${await r.text()}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = r.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: SseEvent = { event: 'message', data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const [k, ...rest] = line.split(':');
        const v = rest.join(':').replace(/^ /, '');
        if (k === 'id') ev.id = v;
        else if (k === 'event') ev.event = v;
        else if (k === 'data') ev.data += v;
      }
      if (!ev.data && !ev.id) continue;
      events.push(ev);
      if (ev.event === 'end' || events.length >= max) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

/** Live processes whose environment holds `variable` (`NAME=value`): what a service started, found by what it gave them. */
export function pidsWithEnv(variable: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') continue; // exited, not yet reaped
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(variable)) pids.push(Number(entry));
    } catch {
      /* gone or not ours */
    }
  }
  return pids;
}

/** The pid of the agent process of a worker (found by its KILN_WORKER_ID), or null. */
export function agentPid(workerId: string): number | null {
  const isAgent = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('build-runner');
    } catch {
      return false; // gone meanwhile
    }
  };
  return pidsWithEnv(`KILN_WORKER_ID=${workerId}`).find(isAgent) ?? null;
}
