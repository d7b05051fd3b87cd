import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, JSONCodec } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { dropSchema } from '@kiln/persistence';
import { deleteStreams } from '@kiln/event-store';
import { GitFixture } from '../platform/git-fixture';
import { githubPush } from '../platform/github-push';
import { ServiceName, startPlatformOnFreePorts } from '../platform/launch';

export const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
export const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'bench-token';
/** `BENCH_PLATFORM_LOG`: a file that gets every service's output lines (e.g. with `OTEL_TRACES_EXPORTER=console`, the spans). */
const LOG_FILE = process.env.BENCH_PLATFORM_LOG;

export interface BenchEvent {
  type: string;
  data: Record<string, string>;
  meta: { occurredAt: string };
}

/** A whole platform in its own namespace for one bench scenario, with a project and a repo. */
export async function withPlatform<T>(
  settings: Record<string, string>,
  fn: (p: {
    api: string;
    call: <R = unknown>(path: string, init?: RequestInit) => Promise<R>;
    repo: GitFixture;
    push: (sha: string) => Promise<string>;
    projectId: string;
    startMs: number;
    /** The platform's namespace (streams, subjects, buckets). */
    namespace: string;
    /** Process id of a running service (for memory figures). */
    pidOf: (service: ServiceName) => number | undefined;
    /** Waits for a build's final event (told by the broker, not by polling the API), then reads its events once. */
    finished: (buildId: string, timeoutMs?: number) => Promise<BenchEvent[]>;
  }) => Promise<T>,
  /** `file://`: the project names its repository by a file:// URL, fetched through git's transport as a remote on another host would be, rather than by its path (borrowed). */
  repoUrlAs: 'path' | 'file://' = 'path',
): Promise<T> {
  const namespace = `bench${Date.now().toString(36)}`;
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const t0 = performance.now();
  const { env, platform } = await startPlatformOnFreePorts({
    NATS_URL,
    DATABASE_URL,
    KILN_NAMESPACE: namespace,
    KILN_ADMIN_TOKEN: TOKEN,
    KILN_WORK_ROOT: join(tmp, 'workers'),
    KILN_GIT_MIRROR_DIR: process.env.KILN_GIT_MIRROR_DIR ?? join(tmp, 'git-mirrors'),
    KILN_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...settings,
  }, LOG_FILE ? { onLine: (service, line) => appendFileSync(LOG_FILE, `${service} ${line}\n`) } : {});
  const startMs = performance.now() - t0;
  const api = `http://127.0.0.1:${env.KILN_API_PORT}`;
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const call = async <R>(path: string, init?: RequestInit) => (await (await fetch(api + path, { headers, ...init })).json()) as R;
  // the bench learns of a build's end from the broker: polling the API would load the
  // machine being measured (each poll is a request and a database read)
  const watchNc = await connect({ servers: NATS_URL });
  const ended = new Set<string>();
  const waiting = new Map<string, () => void>();
  const buildSubject = kilnNames(namespace).subjects.allBuilds.slice(0, -1); // '<ns>.build.'
  const codec = JSONCodec<{ type: string }>();
  watchNc.subscribe(kilnNames(namespace).subjects.allBuilds, {
    callback: (_e, m) => {
      if (!FINAL_TYPES.has(codec.decode(m.data).type)) return;
      const id = m.subject.slice(buildSubject.length);
      ended.add(id);
      waiting.get(id)?.();
    },
  });
  const finished = async (buildId: string, timeoutMs = 120_000): Promise<BenchEvent[]> => {
    if (!ended.has(buildId)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`build ${buildId} did not finish within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(buildId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      waiting.delete(buildId);
    }
    // the API's read model follows the stream: read until it has the final event too
    return finalEvents(call, buildId, timeoutMs);
  };
  try {
    const repo = new GitFixture(tmp, 'bench');
    const repoUrl = repoUrlAs === 'file://' ? `file://${repo.bare}` : repo.bare;
    const secret = 'bench-secret-123';
    const project = await call<{ id: string }>('/api/projects', {
      method: 'POST',
      body: JSON.stringify({ name: 'bench', repoUrl, provider: 'github', webhookSecret: secret, concurrency: 100 }),
    });
    const push = async (sha: string) => {
      const p = githubPush({ repoUrl, fullName: 'bench/app', sha, secret });
      const r = await fetch(`${api}/webhooks/github`, { method: 'POST', headers: p.headers, body: p.body });
      return ((await r.json()) as { buildId: string }).buildId;
    };
    return await fn({ api, call, repo, push, projectId: project.id, startMs, namespace, pidOf: (name) => platform.services.get(name)?.child.pid, finished });
  } finally {
    await watchNc.drain();
    await platform.stop();
    const nc = await connect({ servers: NATS_URL });
    await deleteStreams(await nc.jetstreamManager(), kilnNames(namespace));
    await nc.drain();
    await dropSchema(DATABASE_URL, namespace).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

const FINAL_TYPES = new Set(['BuildSucceeded', 'BuildFailed', 'BuildCancelled', 'BuildTimedOut']);

/** Reads a build's events through the API until they include its final one. */
export async function finalEvents(call: <R>(path: string) => Promise<R>, buildId: string, timeoutMs = 120_000): Promise<BenchEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await call<{ items: BenchEvent[] }>(`/api/builds/${buildId}/events`)).items ?? [];
    if (events.some((e) => FINAL_TYPES.has(e.type))) return events;
    if (Date.now() > deadline) throw new Error(`build ${buildId} did not finish`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const at = (events: BenchEvent[], type: string, field: string) => Date.parse(events.find((e) => e.type === type)?.data[field] ?? '');
