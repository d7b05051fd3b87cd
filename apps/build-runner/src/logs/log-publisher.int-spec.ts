import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { decodeLogChunk, KilnNames, kilnNames, LogChunk, LogLine } from '@kiln/contracts';
import { connectNats, deleteStreams, ensureStreams, lastSubjectSeq, readSubject } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { freePort, TestNatsServer } from '../../test/nats-server';
import { runStep } from '../steps/step-process';
import { LogPublisher } from './log-publisher';
import { SecretMasker } from './secret-masker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every record stored for a build, decoded, with the raw bytes. */
async function stored(js: JetStreamClient, jsm: JetStreamManager, names: KilnNames, buildId: string) {
  const subject = names.subjects.log(buildId);
  const msgs = await readSubject(js, names.streams.logs, subject, await lastSubjectSeq(jsm, names.streams.logs, subject));
  const records = msgs.map((m) => decodeLogChunk(m.data));
  const chunks = records.filter((r): r is Extract<LogChunk, { kind: 'lines' }> => r.kind === 'lines');
  return {
    raw: msgs.map((m) => Buffer.from(m.data).toString('utf8')),
    records,
    chunkNumbers: chunks.map((c) => c.chunk),
    lines: chunks.flatMap((c) => c.lines) as LogLine[],
    ends: records.filter((r) => r.kind === 'end'),
  };
}

/** The log of one build is whole: lines 1..n once each in order, chunks 1..k, one end record last. */
function expectWhole(log: Awaited<ReturnType<typeof stored>>, texts: string[]) {
  expect(log.lines.map((l) => l.text)).toEqual(texts);
  expect(log.lines.map((l) => l.n)).toEqual(texts.map((_, i) => i + 1));
  expect(log.chunkNumbers).toEqual(log.chunkNumbers.map((_, i) => i + 1));
  expect(log.ends).toHaveLength(1);
  expect(log.records[log.records.length - 1].kind).toBe('end');
}

describe('LogPublisher on real JetStream', () => {
  const names = kilnNames(testNamespace('logp'));
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let dir: string;
  let builds = 0;
  const newBuildId = () => `p${++builds}`;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'log-publisher-test');
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    dir = await mkdtemp(join(tmpdir(), 'kiln-logp-'));
  });
  afterAll(async () => {
    await deleteStreams(jsm, names);
    await nc.drain();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every build in order when several publish at once', async () => {
    const ids = Array.from({ length: 6 }, newBuildId);
    const expected = new Map<string, string[]>();
    await Promise.all(
      ids.map(async (id, b) => {
        const pub = new LogPublisher(js, names, id, 1, { spoolPath: join(dir, `spool-${id}`), jsm, nc });
        const texts: string[] = [];
        for (let i = 1; i <= 4000; i++) {
          const text = `${id} line ${i}${i % 97 === 0 ? ' ' + 'w'.repeat(3000) : ''}`;
          pub.line(i % 7 === 0 ? 'stderr' : 'stdout', i % 3, text);
          texts.push(text);
          // bursts of different sizes, so that chunk boundaries fall differently per build
          if (i % (20 + b * 13) === 0) await new Promise((r) => setImmediate(r));
        }
        await pub.end('succeeded');
        expect(pub.stats()).toMatchObject({ lines: 4000, spooledChunks: 0, spoolPending: 0 });
        expected.set(id, texts);
      }),
    );
    for (const id of ids) {
      const log = await stored(js, jsm, names, id);
      expectWhole(log, expected.get(id)!);
      expect(log.chunkNumbers.length).toBeGreaterThan(5);
    }
  });

  it('masks secrets before they leave the worker, also across chunk and long-line boundaries', async () => {
    const id = newBuildId();
    const token = 'tok_Zq8vYp3LmN0wX7';
    const key = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhk\nxy\n-----END KEY-----';
    const pub = new LogPublisher(js, names, id, 1, { masker: new SecretMasker([token, key]), maxBatchBytes: 300, jsm, nc });
    // a real step: the token in short lines, in a long line the splitter cuts (every 16 bytes,
    // so the cut falls inside the token at several offsets), and the multi-line key
    const script = [
      `for i in $(seq 1 40); do echo "line $i token=$TOKEN"; done`,
      `for pad in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do printf '%*s' $pad '' | tr ' ' '.'; printf '%s' "$TOKEN"; echo ' end'; done`,
      `printf 'key=%s\\n' "$KEY"`,
      `echo "$TOKEN" >&2`,
    ].join('\n');
    const result = await runStep({
      run: script,
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TOKEN: token, KEY: key },
      maxLineBytes: 16,
      onLine: (l) => pub.line(l.stream, 0, l.text, l.partial === true),
    });
    expect(result.outcome).toBe('succeeded');
    await pub.end('succeeded');
    const log = await stored(js, jsm, names, id);
    expect(log.chunkNumbers.length).toBeGreaterThan(10);
    const everything = log.raw.join('\n');
    for (const fragment of [token, 'Zq8vYp3L', 'LmN0wX7', 'MIIEvQIBADANBgkqhk', 'BEGIN KEY', 'END KEY']) expect(everything).not.toContain(fragment);
    const stdout = log.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(stdout.slice(0, 40 * 3).join('').split('token=***').length - 1).toBe(40);
    expect(log.lines.some((l) => l.stream === 'stderr' && l.text === '***')).toBe(true);
    // the long lines, joined back, read `<pad>*** end`
    const joined = stdout.join('');
    for (let pad = 1; pad <= 16; pad++) expect(joined).toContain(`${'.'.repeat(pad)}*** end`);
    expect(joined).toContain('key=***');
    expect(stdout).toContain('***'); // the key's short "xy" line, masked because it follows the key's first lines
  });

  it('caps the log, says so once, counts what it dropped, and goes on', async () => {
    const id = newBuildId();
    const pub = new LogPublisher(js, names, id, 1, { maxBytes: 1000, jsm, nc });
    pub.line('system', 0, 'kiln: step 1/1');
    for (let i = 0; i < 100; i++) pub.line('stdout', 0, `${String(i).padStart(3, '0')} ${'x'.repeat(45)}`); // 50 bytes with the newline
    pub.line('system', null, 'build succeeded');
    await pub.end('succeeded');
    const log = await stored(js, jsm, names, id);
    const texts = log.lines.map((l) => l.text);
    const out = log.lines.filter((l) => l.stream === 'stdout');
    expect(out).toHaveLength(20);
    expect(out.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0)).toBeLessThanOrEqual(1000);
    expect(texts.filter((t) => t.startsWith('kiln: log truncated'))).toEqual(['kiln: log truncated at 1000 bytes; the build goes on']);
    expect(texts.indexOf('kiln: log truncated at 1000 bytes; the build goes on')).toBe(21);
    expect(texts[texts.length - 2]).toBe('build succeeded');
    expect(texts[texts.length - 1]).toBe('kiln: 80 line(s) of step output (4000 bytes) dropped after the log cap of 1000 bytes');
    expect(pub.stats()).toMatchObject({ droppedLines: 80, droppedBytes: 4000, keptBytes: 1000 });
    expect(log.lines.map((l) => l.n)).toEqual(texts.map((_, i) => i + 1));
  });

  it('does not store a chunk twice when its ack was lost, even after the dedupe window', async () => {
    // a namespace whose logs stream forgets Msg-Ids after 300 ms
    const short = kilnNames(testNamespace('logd'));
    await ensureStreams(jsm, short);
    const info = await jsm.streams.info(short.streams.logs);
    await jsm.streams.update(short.streams.logs, { ...info.config, duplicate_window: 300 * 1_000_000 });
    try {
      let lost = 0;
      // the broker stores chunk 2 but its ack never arrives
      const lossy = {
        publish: async (subject: string, data: Uint8Array, o: { msgID?: string; timeout?: number }) => {
          const ack = await js.publish(subject, data, o);
          if (o.msgID?.endsWith(':2') && lost++ === 0) throw new Error('TIMEOUT (ack lost)');
          return ack;
        },
      } as unknown as JetStreamClient;
      const id = newBuildId();
      const warnings: string[] = [];
      const pub = new LogPublisher(lossy, short, id, 1, { jsm, retryInitialMs: 700, onWarning: (m) => warnings.push(m) });
      const texts: string[] = [];
      for (let i = 1; i <= 30; i++) {
        pub.line('stdout', 0, `line ${i}`);
        texts.push(`line ${i}`);
        await sleep(2); // one line per chunk, roughly
      }
      await pub.end('succeeded');
      expect(lost).toBe(1);
      expect(warnings.some((w) => /spooling/.test(w))).toBe(true);
      expect(pub.stats().spooledChunks).toBeGreaterThan(0);
      expectWhole(await stored(js, jsm, short, id), texts);
    } finally {
      await deleteStreams(jsm, short);
    }
  });

  describe('while the broker is down', () => {
    let server: TestNatsServer;
    let store: string;
    let own: NatsConnection;

    beforeAll(async () => {
      store = await mkdtemp(join(tmpdir(), 'kiln-nats-'));
      server = new TestNatsServer(await freePort(), store);
      await server.start();
      own = await connectNats(server.url, 'log-publisher-outage', { reconnectTimeWait: 100 });
      await ensureStreams(await own.jetstreamManager(), names);
    });
    afterAll(async () => {
      await own?.close().catch(() => undefined);
      await server?.stop('SIGKILL');
      await rm(store, { recursive: true, force: true });
    });

    it('spools to disk with bounded memory and sends everything once, in order, when it is back', async () => {
      const ownJs = own.jetstream();
      const ownJsm = await own.jetstreamManager();
      const id = newBuildId();
      const spoolPath = join(dir, `outage-${id}`);
      const pub = new LogPublisher(ownJs, names, id, 1, { spoolPath, jsm: ownJsm, nc: own, publishTimeoutMs: 400, maxMemoryBytes: 64 * 1024, retryMaxMs: 200 });
      const texts: string[] = [];
      let writing = true;
      let maxMemory = 0;
      let spoolBytes = 0;
      const writer = (async () => {
        for (let i = 1; writing; i++) {
          for (let k = 0; k < 25; k++) {
            const text = `outage line ${i}.${k} ${'z'.repeat(60)}`;
            pub.line('stdout', 0, text); // never blocks, broker or not
            texts.push(text);
          }
          maxMemory = Math.max(maxMemory, pub.stats().memoryBytes);
          if (existsSync(spoolPath)) spoolBytes = Math.max(spoolBytes, (await stat(spoolPath)).size);
          await sleep(2);
        }
      })();
      await sleep(300);
      await server.stop(); // the broker goes away mid-build
      await sleep(1500);
      const during = pub.stats();
      expect(during.spoolPending).toBeGreaterThan(0);
      expect(spoolBytes).toBeGreaterThan(64 * 1024); // the overflow went to disk, not memory
      await server.start(); // same port, same storage
      await sleep(700);
      writing = false;
      await writer;
      await pub.end('succeeded');
      expect(maxMemory).toBeLessThan(64 * 1024 + 80 * 1024); // the bound plus at most one chunk
      expect(pub.stats()).toMatchObject({ spoolPending: 0, lines: texts.length });
      expect(existsSync(spoolPath)).toBe(false);
      const log = await stored(ownJs, ownJsm, names, id);
      expectWhole(log, texts);
      expect(texts.length).toBeGreaterThan(1000);
    });
  });
});
