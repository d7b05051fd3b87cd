import { readFileSync } from 'node:fs';
import http from 'node:http';
import { connect, NatsConnection } from 'nats';
import { encodeLogChunk, kilnNames, KilnNames, LogChunk, logChunkMsgId } from '@kiln/contracts';
import { LogPublisher } from '../../apps/build-runner/src/logs/log-publisher';
import { NATS_URL, withPlatform } from './platform-run';

const TOKEN = 'bench-token';
const LINES = Number(process.env.BENCH_LOG_LINES || 200_000);
const HISTORY_LINES = Number(process.env.BENCH_HISTORY_LINES || 1_000_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS || 100);

const label = (s: string) => s.padEnd(56);
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Resident memory of a process (Linux `/proc`), in bytes. */
function rssOf(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * A lean SSE client, like a browser's EventSource: counts `line` events without parsing
 * them, and when log-store drops it for being slow it reconnects with `Last-Event-ID`.
 */
function watch(api: string, buildId: string): { lines: () => number; reconnects: () => number; ended: Promise<number>; close: () => void; opened: Promise<void> } {
  let count = 0;
  let reconnects = -1;
  let lastId = '';
  let finished = false;
  let req: http.ClientRequest | null = null;
  let resolveEnd!: (t: number) => void;
  let resolveOpen!: () => void;
  const ended = new Promise<number>((r) => (resolveEnd = r));
  const opened = new Promise<void>((r) => (resolveOpen = r));
  const finish = (t: number) => {
    finished = true;
    resolveEnd(t);
  };
  const open = () => {
    reconnects++;
    let buf = '';
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...(lastId ? { 'last-event-id': lastId } : {}) };
    req = http.get(`${api}/api/builds/${buildId}/logs/stream`, { headers, agent: false }, (res) => {
      resolveOpen();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        const cut = buf.lastIndexOf('\n\n');
        if (cut === -1) return;
        const complete = buf.slice(0, cut + 2);
        buf = buf.slice(cut + 2);
        for (let i = complete.indexOf('event: line'); i !== -1; i = complete.indexOf('event: line', i + 11)) count++;
        const id = complete.lastIndexOf('\nid: ') + 1 || (complete.startsWith('id: ') ? 0 : -1);
        if (id >= 0) lastId = complete.slice(id + 4, complete.indexOf('\n', id));
        if (complete.includes('event: end')) finish(performance.now());
      });
      res.on('end', () => {
        if (!finished) setTimeout(open, 50);
      });
    });
    req.on('error', () => {
      if (!finished) setTimeout(open, 200);
    });
  };
  open();
  return { lines: () => count, reconnects: () => reconnects, ended, close: () => req?.destroy(), opened };
}

const lineText = (i: number) => `[${String(i).padStart(7, '0')}] compiling module src/mod${i % 977}.ts ... ok (${i % 53} ms)`;

/** One build's LogPublisher pushing `LINES` lines as fast as a step could print them. */
async function pushThroughput(nc: NatsConnection, names: KilnNames, api: string, jetStreamRate: number): Promise<string[]> {
  const buildId = `benchpush${Date.now().toString(36)}`;
  const sse = watch(api, buildId);
  await sse.opened;
  const pub = new LogPublisher(nc.jetstream(), names, buildId, 1, { jsm: await nc.jetstreamManager(), nc });
  const t0 = performance.now();
  for (let i = 1; i <= LINES; i++) {
    pub.line('stdout', 0, lineText(i));
    if (i % 2000 === 0) await new Promise((r) => setImmediate(r)); // a step's output arrives in pipe reads
  }
  const pushed = performance.now();
  await pub.end('succeeded');
  const stored = performance.now();
  const seen = await sse.ended;
  sse.close();
  const e2eRate = LINES / ((seen - t0) / 1000);
  return [
    `${label(`one build pushes ${LINES.toLocaleString('en')} lines: pushed (never blocks)`)} ${Math.round(pushed - t0)} ms`,
    `${label('  … stored in JetStream (LogPublisher → ack)')} ${Math.round(stored - t0)} ms  ${rate(LINES, stored - t0)} lines  ${pub.stats().chunks} chunks`,
    `${label('  … readable via log-store (last line at an SSE client)')} ${Math.round(seen - t0)} ms  ${rate(LINES, seen - t0)} lines  (${sse.lines().toLocaleString('en')} received, ${sse.reconnects()} resumes)`,
    `${label('  end-to-end lines/s ÷ raw JetStream msgs/s')} ${((e2eRate / jetStreamRate) * 100).toFixed(0)}% (target ≥ 50%)`,
  ];
}

/** A `HISTORY_LINES`-line log published directly in big chunks, then read in full, before and after archiving. */
async function historyRead(nc: NatsConnection, names: KilnNames, api: string): Promise<string[]> {
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const buildId = `benchhist${Date.now().toString(36)}`;
  const subject = names.subjects.log(buildId);
  const perChunk = 2000;
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let c = 0, n = 0; n < HISTORY_LINES; c++) {
    const lines = [];
    for (let k = 0; k < perChunk && n < HISTORY_LINES; k++) {
      n++;
      lines.push({ n, t: 1_700_000_000_000 + n, stream: 'stdout' as const, step: n % 5, text: lineText(n) });
    }
    const chunk: LogChunk = { kind: 'lines', buildId, attempt: 1, chunk: c + 1, lines };
    const p = js.publish(subject, encodeLogChunk(chunk), { msgID: logChunkMsgId(chunk) }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 16) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const end: LogChunk = { kind: 'end', buildId, attempt: 1, status: 'succeeded' };
  await js.publish(subject, encodeLogChunk(end), { msgID: logChunkMsgId(end) });
  const written = performance.now() - t0;
  const ended = performance.now();

  const readAll = async () => {
    const t = performance.now();
    let cursor = '';
    let lines = 0;
    let pages = 0;
    for (;;) {
      const res = await fetch(`${api}/api/builds/${buildId}/logs?limit=5000&cursor=${cursor}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const page = (await res.json()) as { items: unknown[]; nextCursor: string | null; complete: boolean };
      if (!res.ok) throw new Error(`history read failed: ${res.status} ${JSON.stringify(page)}`);
      lines += page.items.length;
      pages++;
      if (page.complete || !page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return { ms: performance.now() - t, lines, pages };
  };
  // the archiver compacts the log when its end record arrives, while the first read runs
  const os = await js.views.os(names.buckets.logArchive);
  const archived = (async () => {
    for (let i = 0; i < 2400; i++) {
      const info = await os.info(buildId);
      if (info?.metadata?.format) return performance.now();
      await new Promise((r) => setTimeout(r, 25));
    }
    return NaN;
  })();
  const fromStream = await readAll();
  const archivedAt = await archived;
  // then the stream's copy goes (as retention would age it out)
  await jsm.streams.purge(names.streams.logs, { filter: subject });
  const fromArchive = await readAll();
  return [
    `${label(`history: ${HISTORY_LINES.toLocaleString('en')}-line log published (${perChunk}-line chunks)`)} ${Math.round(written)} ms`,
    `${label('  full paged read via gateway (limit 5000), from the stream')} ${Math.round(fromStream.ms)} ms  ${rate(fromStream.lines, fromStream.ms)} lines  ${fromStream.pages} pages`,
    `${label('  archived (end record → manifest in the object store)')} ${Math.round(archivedAt - ended)} ms`,
    `${label('  full paged read after purging the stream copy (archive)')} ${Math.round(fromArchive.ms)} ms  ${rate(fromArchive.lines, fromArchive.ms)} lines  ${fromArchive.lines === HISTORY_LINES ? 'all lines' : `ONLY ${fromArchive.lines} lines`}`,
  ];
}

/** Resident memory of log-store while `WATCHERS` SSE clients follow one running build. */
async function watchersMemory(nc: NatsConnection, names: KilnNames, api: string, logStorePid: number | undefined): Promise<string[]> {
  const buildId = `benchwatch${Date.now().toString(36)}`;
  const pub = new LogPublisher(nc.jetstream(), names, buildId, 1, { jsm: await nc.jetstreamManager(), nc });
  pub.line('system', null, 'kiln: bench build');
  await pub.flush();
  await new Promise((r) => setTimeout(r, 1000));
  const idle = rssOf(logStorePid);
  const watchers = Array.from({ length: WATCHERS }, () => watch(api, buildId));
  await Promise.all(watchers.map((w) => w.opened));
  await new Promise((r) => setTimeout(r, 500));
  const connected = rssOf(logStorePid);
  // the build runs for ~5 s printing 4,000 lines/s
  let peak = connected;
  const lines = 20_000;
  const t0 = performance.now();
  for (let i = 1; i <= lines; i++) {
    pub.line('stdout', 0, lineText(i));
    if (i % 40 === 0) {
      await new Promise((r) => setTimeout(r, 10));
      if (i % 2000 === 0) peak = Math.max(peak, rssOf(logStorePid));
    }
  }
  await pub.end('succeeded');
  const ends = await Promise.all(watchers.map((w) => w.ended));
  const last = Math.max(...ends) - t0;
  peak = Math.max(peak, rssOf(logStorePid));
  const complete = watchers.filter((w) => w.lines() === lines + 1).length;
  for (const w of watchers) w.close();
  return [
    `${label(`log-store RSS, ${WATCHERS} live SSE watchers of one build`)} idle ${mib(idle)}, ${WATCHERS} connected ${mib(connected)}, peak while streaming ${mib(peak)}`,
    `${label(`  ${lines.toLocaleString('en')} lines × ${WATCHERS} watchers delivered`)} ${Math.round(last)} ms  ${rate(lines * WATCHERS, last)} line events  ${complete}/${WATCHERS} watchers got every line, ${watchers.reduce((n, w) => n + w.reconnects(), 0)} resumes`,
  ];
}

/** The log benchmarks: push throughput end to end, a 1,000,000-line history read, memory with 100 watchers. */
export async function benchLogVolume(jetStreamRate: number, print: (line: string) => void): Promise<void> {
  await withPlatform({ KILN_POOL_MIN_WARM: '0' }, async ({ api, namespace, pidOf }) => {
    const names = kilnNames(namespace);
    const nc = await connect({ servers: NATS_URL });
    try {
      // memory first, on a fresh log-store (the other two leave a grown heap behind)
      for (const line of await watchersMemory(nc, names, api, pidOf('log-store'))) print(line);
      for (const line of await pushThroughput(nc, names, api, jetStreamRate)) print(line);
      for (const line of await historyRead(nc, names, api)) print(line);
    } finally {
      await nc.drain();
    }
  });
}

