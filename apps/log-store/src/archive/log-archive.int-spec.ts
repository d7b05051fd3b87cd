import 'reflect-metadata';
import { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { KilnNames, kilnNames, parseLogCursor } from '@kiln/contracts';
import { connectNats, deleteStreams, ensureStreams, lastSubjectSeq } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { eventually, LogWriter, openSse, SseEvent } from '../../test/log-fixtures';
import { AppModule } from '../app.module';
import { ARCHIVE_FORMAT, LogArchive, SEGMENT_BYTES } from '../logs/log-archive';
import { CursorLine, LogReader } from '../logs/log-reader';
import { connectArchiver } from './connect-archiver';
import { LogArchiver } from './log-archiver';

/** A log-store app (HTTP + archiver) on a namespace; the archiver starts when asked. */
async function startLogStore(names: KilnNames, env: Record<string, string> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, { NATS_URL: testNatsUrl(), KILN_NAMESPACE: names.namespace, ...env });
  const app = await NestFactory.create(AppModule, { logger: false });
  process.env = saved;
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  let started = false;
  return {
    app,
    port,
    /** Starts the archiver's consumer (once). */
    startArchiver: async () => {
      if (started) return;
      started = true;
      connectArchiver(app);
      await app.startAllMicroservices();
    },
    /** Waits until the build's archive covers `minLastSeq` (any archive when 0). */
    archived: async (buildId: string, minLastSeq = 0) => {
      const archive = app.get(LogArchive);
      for (let i = 0; i < 400; i++) {
        const m = await archive.manifest(buildId);
        if (m && m.lastSeq >= minLastSeq) return m;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`build ${buildId} was not archived`);
    },
  };
}

/** Everything a client can read of a build's log over HTTP, for before/after comparisons. */
async function readEverything(port: number, buildId: string) {
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    expect(res.status).toBe(200);
    return res;
  };
  const pages: Record<string, unknown[]> = {};
  for (const q of ['limit=1', 'limit=7', 'limit=1000', 'limit=3&step=1']) {
    const out: unknown[] = [];
    let cursor = '';
    for (let i = 0; i < 10_000; i++) {
      const page = (await (await get(`/builds/${buildId}/logs?${q}&cursor=${cursor}`)).json()) as { items: { cursor: string }[]; nextCursor: string | null; complete: boolean };
      out.push(page);
      if (page.complete || !page.nextCursor) break;
      cursor = page.nextCursor;
    }
    pages[q] = out;
  }
  const raw = await (await get(`/builds/${buildId}/logs/raw`)).text();
  const rawStep = await (await get(`/builds/${buildId}/logs/raw?step=1`)).text();
  const sse = async (headers: Record<string, string> = {}) => {
    const s = await openSse(port, `/builds/${buildId}/logs/stream`, headers);
    await eventually(() => s.ended(), 10_000, 'end of the event stream');
    return s.events;
  };
  const all = await sse();
  const middle = all.filter((e) => e.event === 'line')[Math.floor(all.length / 3)].id!;
  const resumed = await sse({ 'Last-Event-ID': middle });
  return { pages, raw, rawStep, sse: all, resumed };
}

const lineTexts = (events: SseEvent[]) => events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data).text as string);

jest.setTimeout(60_000);

describe('log archive on real JetStream and Object Store', () => {
  const names = kilnNames(testNamespace('loga'));
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let store: Awaited<ReturnType<typeof startLogStore>>;
  let builds = 0;
  const newBuild = (attempt = 1) => new LogWriter(js, names, `a${++builds}`, attempt);
  const purge = (buildId: string) => jsm.streams.purge(names.streams.logs, { filter: names.subjects.log(buildId) });

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'log-archive-test');
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    store = await startLogStore(names);
  });
  afterAll(async () => {
    await store.app.close().catch(() => undefined);
    await deleteStreams(jsm, names);
    await nc.drain();
  });

  it('archives a finished log once, and serves the same history, raw text and SSE after the stream copy is purged', async () => {
    const a = newBuild();
    const other = newBuild();
    await a.lines(2, null);
    for (let i = 0; i < 6; i++) {
      await a.chunks([1 + (i % 4), 3], i % 2);
      await other.lines(2);
    }
    await a.end('failed');
    await other.lines(1); // a build still running is not archived
    const subject = names.subjects.log(a.buildId);
    const endSeq = await lastSubjectSeq(jsm, names.streams.logs, subject);

    // before: nothing archived yet, every read comes from the stream
    const archive = store.app.get(LogArchive);
    expect(await archive.manifest(a.buildId)).toBeNull();
    const before = await readEverything(store.port, a.buildId);
    expect(lineTexts(before.sse)).toEqual(a.texts());
    expect(before.raw).toBe(a.texts().join('\n'));

    // the archiver's durable consumer reacts to the end record
    await store.startArchiver();
    const manifest = await store.archived(a.buildId);
    expect(manifest).toMatchObject({ format: ARCHIVE_FORMAT, buildId: a.buildId, lastSeq: endSeq, end: { status: 'failed' }, lines: a.written.length });
    const info = await (await js.views.os(names.buckets.logArchive)).info(a.buildId);
    expect(info?.metadata).toMatchObject({ format: ARCHIVE_FORMAT, lastSeq: String(endSeq), lines: String(a.written.length), status: 'failed' });
    expect(await archive.manifest(other.buildId)).toBeNull();

    // idempotent: a repeated end (redelivery, second replica) finds it done
    expect(await store.app.get(LogArchiver).archiveBuild(a.buildId, endSeq)).toBe('already');

    // after: the stream's copy is gone; reads are served from the archive, same cursors
    await purge(a.buildId);
    expect(await lastSubjectSeq(jsm, names.streams.logs, subject)).toBe(0);
    const after = await readEverything(store.port, a.buildId);
    expect(after).toEqual(before);
    expect(lineTexts(after.resumed)).toEqual(lineTexts(before.resumed));
    expect(lineTexts(after.sse).length).toBe(a.written.length);
  });

  it('splits a large log into segments and pages through it the same way from the archive', async () => {
    const a = newBuild();
    // about 2.5 MiB of records: several segments
    const big = Array.from({ length: 40 }, () => 700);
    for (const size of big) await a.lines(size, 0);
    await a.end('succeeded');
    const reader = store.app.get(LogReader);
    const readAll = async (limit: number) => {
      const out: CursorLine[] = [];
      let after = null;
      for (;;) {
        const page = await reader.history(a.buildId, { after, limit });
        out.push(...page.lines);
        if (page.end || !page.nextCursor) return { lines: out, end: page.end };
        after = parseLogCursor(page.nextCursor);
      }
    };
    const before = await readAll(5000);
    expect(before.lines).toHaveLength(28_000);
    await store.startArchiver();
    const manifest = await store.archived(a.buildId);
    expect(manifest.segments.length).toBeGreaterThan(1);
    for (const s of manifest.segments.slice(0, -1)) expect(s.bytes).toBeGreaterThanOrEqual(SEGMENT_BYTES);
    await purge(a.buildId);
    expect(await readAll(5000)).toEqual(before);
    const small = await readAll(333);
    expect(small.lines).toEqual(before.lines);
    // a resume from any cursor gives the rest, without gap or duplicate
    for (const i of [0, 699, 700, 13_999, 27_998]) {
      const page = await reader.history(a.buildId, { after: parseLogCursor(before.lines[i].cursor), limit: 5 });
      expect(page.lines).toEqual(before.lines.slice(i + 1, i + 6));
    }
  });

  it('archives again, appending, when a later attempt of the build ends', async () => {
    const a = newBuild(1);
    await a.chunks([3, 3]);
    await a.end('cancelled');
    await store.startArchiver();
    const first = await store.archived(a.buildId);
    const retry = new LogWriter(js, names, a.buildId, 2);
    await retry.chunks([2, 2]);
    await retry.end('succeeded');
    const lastSeq = await lastSubjectSeq(jsm, names.streams.logs, names.subjects.log(a.buildId));
    const second = await store.archived(a.buildId, lastSeq);
    expect(second).toMatchObject({ lastSeq, lines: 10, records: 6, end: { status: 'cancelled' } });
    expect(second.segments.slice(0, first.segments.length)).toEqual(first.segments);
    const reader = store.app.get(LogReader);
    const before = await reader.history(a.buildId, { limit: 100 });
    const fromMiddle = await reader.history(a.buildId, { after: parseLogCursor(before.lines[2].cursor), limit: 100 });
    await purge(a.buildId);
    expect(await reader.history(a.buildId, { limit: 100 })).toEqual(before);
    expect(await reader.history(a.buildId, { after: parseLogCursor(before.lines[2].cursor), limit: 100 })).toEqual(fromMiddle);
  });
});

describe('log retention on real JetStream', () => {
  const names = kilnNames(testNamespace('logr'));
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'log-retention-test');
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names); // created without retention, as an agent would
  });
  afterAll(async () => {
    await deleteStreams(jsm, names);
    await nc.drain();
  });

  it('applies KILN_LOG_RETENTION to the logs stream; aged-out logs are read from the archive', async () => {
    const store = await startLogStore(names, { KILN_LOG_RETENTION: '2s' });
    try {
      expect((await jsm.streams.info(names.streams.logs)).config.max_age).toBe(2_000_000_000);
      await store.startArchiver();
      const a = new LogWriter(nc.jetstream(), names, 'aged', 1);
      await a.chunks([4, 4, 2]);
      await a.end('succeeded');
      const before = await store.app.get(LogReader).history('aged', { limit: 100 });
      expect(before.lines).toHaveLength(10);
      await store.archived('aged');
      // the records age out of the stream by themselves
      const deadline = Date.now() + 15_000;
      while ((await lastSubjectSeq(jsm, names.streams.logs, names.subjects.log('aged'))) !== 0) {
        if (Date.now() > deadline) throw new Error('records did not age out');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await store.app.get(LogArchive).manifest('aged')).not.toBeNull();
      expect(await store.app.get(LogReader).history('aged', { limit: 100 })).toEqual(before);
      const raw = await (await fetch(`http://127.0.0.1:${store.port}/builds/aged/logs/raw`)).text();
      expect(raw).toBe(a.texts().join('\n'));
    } finally {
      await store.app.close().catch(() => undefined);
    }
    // keep forever again: a later start with the setting unset removes the max age
    const again = await startLogStore(names);
    await again.app.close();
    expect((await jsm.streams.info(names.streams.logs)).config.max_age).toBe(0);
  });
});
