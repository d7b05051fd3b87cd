import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect, StorageType } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { dropSchema } from '@kiln/persistence';
import { deleteStreams } from '@kiln/event-store';
import { GitFixture } from '../platform/git-fixture';
import { githubPush } from '../platform/github-push';
import { startPlatform } from '../platform/launch';
import { row, summary } from './stats';

const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const BUILDS = Number(process.env.BENCH_BUILDS || 30);
const TOKEN = 'bench-token';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Raw NATS request/reply round trip: the floor under any dispatch through the broker. */
async function natsRoundTrip(): Promise<number[]> {
  const nc = await connect({ servers: NATS_URL });
  const sub = nc.subscribe('bench.rtt', { callback: (_e, m) => m.respond(m.data) });
  const out: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await nc.request('bench.rtt', new Uint8Array(16), { timeout: 2000 });
    if (i >= 200) out.push(performance.now() - t);
  }
  sub.unsubscribe();
  await nc.drain();
  return out;
}

/** Raw JetStream publish rate with 500 publishes in flight (the ceiling for appends and log chunks). */
async function jetStreamRate(): Promise<number> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const name = `BENCH_${Date.now()}`;
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], storage: StorageType.File });
  const n = 20_000;
  const payload = new Uint8Array(200);
  const t = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const p = js.publish(`${name.toLowerCase()}.x`, payload).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 500) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const rate = n / ((performance.now() - t) / 1000);
  await jsm.streams.delete(name);
  await nc.drain();
  return rate;
}

async function main(): Promise<void> {
  console.log(`Kiln benchmark — ${new Date().toISOString()} — node ${process.version}, ${cpus().length} cores`);
  const rtt = await natsRoundTrip();
  console.log(row('NATS request/reply round trip (floor)', summary(rtt)));
  const rate = await jetStreamRate();
  console.log(`${'JetStream publish, 500 in flight (ceiling)'.padEnd(44)} ${Math.round(rate).toLocaleString('en')} msgs/s`);

  const namespace = `bench${Date.now().toString(36)}`;
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const env = {
    NATS_URL,
    DATABASE_URL,
    KILN_NAMESPACE: namespace,
    KILN_ADMIN_TOKEN: TOKEN,
    KILN_API_PORT: String(ports[0]),
    KILN_INGEST_PORT: String(ports[1]),
    KILN_LOG_STORE_PORT: String(ports[2]),
    KILN_SCHEDULER_PORT: String(ports[3]),
    KILN_POOL_MANAGER_PORT: String(ports[4]),
    KILN_POOL_MIN_WARM: process.env.BENCH_MIN_WARM ?? '3',
    KILN_WORK_ROOT: join(tmp, 'workers'),
    KILN_LOG_LEVEL: 'warn',
  };
  const api = `http://127.0.0.1:${ports[0]}`;
  const t0 = performance.now();
  const platform = await startPlatform({ env });
  console.log(`${'platform start (5 services ready)'.padEnd(44)} ${Math.round(performance.now() - t0)} ms`);
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- loosely read API answers
    const call = async (path: string, init?: RequestInit) => (await fetch(api + path, { headers, ...init })).json() as Promise<any>;
  try {
    const repo = new GitFixture(tmp, 'bench');
    const secret = 'bench-secret-123';
    const project = await call('/api/projects', { method: 'POST', body: JSON.stringify({ name: 'bench', repoUrl: repo.bare, provider: 'github', webhookSecret: secret }) });
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: one\n    run: echo hi\n' }, 'trivial');

    const waitWarm = async (n: number) => {
      for (let i = 0; i < 200; i++) {
        const pool = await call('/api/pool');
        if ((pool.counts?.warm ?? 0) >= n) return;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const stages: Record<string, number[]> = {};
    const stage = (name: string, v: number) => (stages[name] ??= []).push(v);
    const dispatch: number[] = [];
    const firstStep: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < BUILDS; i++) {
      await waitWarm(1);
      const push = githubPush({ repoUrl: repo.bare, fullName: 'bench/app', sha, secret });
      const r = await fetch(`${api}/webhooks/github`, { method: 'POST', headers: push.headers, body: push.body });
      const { buildId } = (await r.json()) as { buildId: string };
      let events: { type: string; data: Record<string, string>; meta: { occurredAt: string } }[] = [];
      for (let k = 0; k < 400; k++) {
        events = (await call(`/api/builds/${buildId}/events`)).items;
        if (events.some((e) => /BuildSucceeded|BuildFailed/.test(e.type))) break;
        await new Promise((res) => setTimeout(res, 25));
      }
      const at = (type: string, field: string) => Date.parse(events.find((e) => e.type === type)?.data[field] ?? "");
      const accepted = at('BuildRequested', 'requestedAt');
      dispatch.push(at('BuildStarted', 'startedAt') - accepted);
      firstStep.push(at('StepStarted', 'startedAt') - accepted);
      total.push(at('BuildSucceeded', 'finishedAt') - accepted);
      const when = (type: string) => Date.parse(events.find((e) => e.type === type)?.meta.occurredAt ?? '');
      const order = ['BuildRequested', 'BuildQueued', 'BuildAssigned', 'BuildStarted', 'PipelineLoaded', 'StepStarted'];
      for (let k = 1; k < order.length; k++) stage(`  ${order[k - 1]} → ${order[k]}`, when(order[k]) - when(order[k - 1]));
    }
    console.log(row('webhook accepted → build started (warm pool)', summary(dispatch)));
    console.log(row('webhook accepted → first step running', summary(firstStep)));
    console.log(row('webhook accepted → build succeeded', summary(total)));
    for (const [name, v] of Object.entries(stages)) console.log(row(name, summary(v)));

    // log latency: a step prints its own clock; the watcher compares on arrival
    await waitWarm(1);
    const logSha = repo.commit({ '.kiln.yml': 'steps:\n  - name: tick\n    run: for i in $(seq 1 300); do date +%s%3N; sleep 0.01; done\n' }, 'ticks');
    const push = githubPush({ repoUrl: repo.bare, fullName: 'bench/app', sha: logSha, secret });
    const { buildId } = (await (await fetch(`${api}/webhooks/github`, { method: 'POST', headers: push.headers, body: push.body })).json()) as { buildId: string };
    const lat: number[] = [];
    const res = await fetch(`${api}/api/builds/${buildId}/logs/stream`, { headers });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    outer: for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const now = Date.now();
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (block.includes('event: end')) break outer;
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!data) continue;
        const l = JSON.parse(data);
        if (l.stream === 'stdout' && /^\d{13}$/.test(l.text)) lat.push(now - Number(l.text));
      }
    }
    console.log(row('log line written → SSE watcher (via gateway)', summary(lat)));
    void project;
  } finally {
    await platform.stop();
    const nc = await connect({ servers: NATS_URL });
    await deleteStreams(await nc.jetstreamManager(), kilnNames(namespace));
    await nc.drain();
    await dropSchema(DATABASE_URL, namespace).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('bench failed:', e);
    process.exit(1);
  },
);
