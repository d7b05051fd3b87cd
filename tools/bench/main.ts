import { cpus } from 'node:os';
import { connect, StorageType } from 'nats';
import { benchCache } from './cache';
import { benchDispatch, benchThroughput } from './dispatch';
import { benchLogVolume } from './logs';
import { NATS_URL, withPlatform } from './platform-run';
import { row, summary } from './stats';

const TOKEN = 'bench-token';


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
  console.log(`${'JetStream publish, 500 in flight (ceiling)'.padEnd(56)} ${Math.round(rate).toLocaleString('en')} msgs/s`);

  const only = (process.env.BENCH_ONLY ?? 'dispatch,throughput,logs,cache').split(',');
  if (only.includes('dispatch')) {
    const warmN = Number(process.env.BENCH_BUILDS || 200);
    const coldN = Number(process.env.BENCH_COLD_BUILDS || warmN);
    const modes = (process.env.BENCH_DISPATCH || 'warm,warm-transport,warm-same-commit,back-to-back,cold').split(',');
    console.log(`\ndispatch, one build at a time, a new commit each push unless said (${warmN} per warm mode, ${coldN} cold):`);
    if (modes.includes('warm')) for (const line of await benchDispatch('warm pool (minWarm 3 idle), repository by path (read in place)', 'warm', 3, warmN)) console.log(line);
    if (modes.includes('warm-transport')) for (const line of await benchDispatch('warm pool, repository by file:// URL (fetched)', 'warm-transport', 3, warmN)) console.log(line);
    if (modes.includes('warm-same-commit')) for (const line of await benchDispatch('warm pool, same commit (in the mirror)', 'warm-same-commit', 3, warmN)) console.log(line);
    if (modes.includes('back-to-back')) for (const line of await benchDispatch('back-to-back (minWarm 3)', 'back-to-back', 3, warmN)) console.log(line);
    if (modes.includes('cold')) for (const line of await benchDispatch('cold (minWarm 0)', 'cold', 0, coldN)) console.log(line);
  }
  if (only.includes('throughput')) {
    const n = Number(process.env.BENCH_THROUGHPUT_BUILDS || 48);
    console.log(`\nthroughput, ${n} trivial builds pushed at once:`);
    for (const c of (process.env.BENCH_CONCURRENCY || '6,12,24').split(',').map(Number)) console.log(await benchThroughput(c, n));
  }
  if (only.includes('logs')) {
    console.log('\nlogs:');
    console.log(await withPlatform({ KILN_POOL_MIN_WARM: '2' }, async ({ api, repo, push }) => {
      // a step prints its own clock; the watcher compares on arrival
      const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: tick\n    run: for i in $(seq 1 300); do date +%s%3N; sleep 0.01; done\n' }, 'ticks');
      const buildId = await push(sha);
      const lat: number[] = [];
      const res = await fetch(`${api}/api/builds/${buildId}/logs/stream`, { headers: { authorization: `Bearer ${TOKEN}` } });
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
      return row('log line written → SSE watcher (via gateway)', summary(lat));
    }));
    console.log('\nlog volume (one build end to end, 1,000,000-line history, watchers):');
    await benchLogVolume(rate, (line) => console.log(line));
  }
  if (only.includes('cache')) {
    console.log('\nbuild cache, a real Node project (cold: empty cache, npm ci from the registry; warm: same commit again):');
    await benchCache((line) => console.log(line));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('bench failed:', e);
    process.exit(1);
  },
);
