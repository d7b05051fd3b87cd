import 'reflect-metadata';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { connectNats, deleteStreams, ensureStreams } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { eventually, LogWriter, openSse, SseEvent, sleep } from '../../test/log-fixtures';
import { AppModule } from '../app.module';
import { LogStreams } from './log-streams.service';

/** The JSON of `GET /builds/:id/logs`. */
interface PageBody {
  items: { cursor: string; n: number; t: number; stream: string; step: number | null; text: string; attempt: number }[];
  nextCursor: string | null;
  complete: boolean;
  status?: string;
}

describe('log-store HTTP on real JetStream', () => {
  const names = kilnNames(testNamespace('logh'));
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let app: INestApplication;
  let port: number;
  let builds = 0;
  const newBuild = () => new LogWriter(js, names, `h${++builds}`);
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}${path}`, { headers });
  const getPage = async (path: string) => (await (await get(path)).json()) as PageBody;
  const lineTexts = (events: SseEvent[]) => events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data).text as string);

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'log-store-http-test');
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    process.env.NATS_URL = testNatsUrl();
    process.env.KILN_NAMESPACE = names.namespace;
    app = await NestFactory.create(AppModule, { logger: false });
    app.get(LogStreams).heartbeatMs = 100;
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close().catch(() => undefined);
    await deleteStreams(jsm, names);
    await nc.drain();
  });

  describe('GET /builds/:id/logs', () => {
    it('pages by cursor and limit, then reports completion and status', async () => {
      const a = newBuild();
      await a.chunks([3, 5, 2]);
      await a.end('failed');
      const items: { cursor: string; text: string }[] = [];
      let cursor = '';
      let last: PageBody | undefined;
      for (let i = 0; i < 10; i++) {
        const res = await get(`/builds/${a.buildId}/logs?limit=4&cursor=${cursor}`);
        expect(res.status).toBe(200);
        last = (await res.json()) as PageBody;
        items.push(...last.items);
        if (last.complete) break;
        expect(last.status).toBeUndefined();
        cursor = last.nextCursor!;
      }
      expect(items.map((i) => i.text)).toEqual(a.texts());
      expect(last).toMatchObject({ complete: true, status: 'failed', nextCursor: items[items.length - 1].cursor });
      expect(Object.keys(items[0]).sort()).toEqual(['attempt', 'cursor', 'n', 'step', 'stream', 't', 'text']);
    });

    it('defaults to 1000 lines and filters by step', async () => {
      const a = newBuild();
      await a.chunks([600, 600], 0);
      await a.chunks([3], 1);
      const all = await getPage(`/builds/${a.buildId}/logs`);
      expect(all.items).toHaveLength(1000);
      expect(all.complete).toBe(false);
      const step1 = await getPage(`/builds/${a.buildId}/logs?step=1`);
      expect(step1.items.map((i) => i.text)).toEqual(a.texts((l) => l.step === 1));
    });

    it('answers 400 with a JSON error for a bad cursor, limit or step', async () => {
      for (const q of ['cursor=abc', 'cursor=1-', 'limit=0', 'limit=5001', 'limit=ten', 'step=-1']) {
        const res = await get(`/builds/x1/logs?${q}`);
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: 'invalid', message: expect.any(String) });
      }
      const sse = await get('/builds/x1/logs/stream', { 'Last-Event-ID': 'nope' });
      expect(sse.status).toBe(400);
      expect(((await sse.json()) as { error: string }).error).toBe('invalid');
    });
  });

  describe('GET /builds/:id/logs/raw', () => {
    it('returns every line as text/plain joined with newlines', async () => {
      const a = newBuild();
      await a.chunks([2, 3], 0);
      await a.chunks([2], 1);
      const res = await get(`/builds/${a.buildId}/logs/raw`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toBe(a.texts().join('\n'));
      const step = await get(`/builds/${a.buildId}/logs/raw?step=1`);
      expect(await step.text()).toBe(a.texts((l) => l.step === 1).join('\n'));
      expect(await (await get('/builds/none-yet/logs/raw')).text()).toBe('');
    });
  });

  describe('GET /builds/:id/logs/stream', () => {
    it('streams history and live lines as events, then the end event, and closes', async () => {
      const a = newBuild();
      await a.chunks([2, 2]);
      const sse = await openSse(port, `/builds/${a.buildId}/logs/stream`);
      expect(sse.status).toBe(200);
      expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(sse.headers['cache-control']).toBe('no-cache');
      expect(sse.headers['x-accel-buffering']).toBe('no');
      await eventually(() => sse.events.length === 4, 5000, 'history events');
      await a.chunks([3]);
      await sleep(250);
      await a.end('succeeded');
      await eventually(() => sse.ended(), 5000, 'end of response');
      expect(lineTexts(sse.events)).toEqual(a.texts());
      const ids = sse.events.filter((e) => e.event === 'line').map((e) => e.id);
      expect(ids).toEqual(sse.events.filter((e) => e.event === 'line').map((e) => JSON.parse(e.data).cursor));
      expect(sse.events[sse.events.length - 1]).toEqual({ event: 'end', data: JSON.stringify({ status: 'succeeded' }) });
      expect(sse.comments).toContain('ping');
      // a heartbeat may come first on a slow machine
      expect(sse.body()).toMatch(/^(: ping\n\n)*id: \d+-\d+\nevent: line\ndata: \{.*\}\n\n/);
    });

    it('resumes from Last-Event-ID after a disconnect without gap or duplicate', async () => {
      const a = newBuild();
      await a.chunks([3, 3]);
      const first = await openSse(port, `/builds/${a.buildId}/logs/stream`);
      await a.chunks([2]);
      await eventually(() => first.events.length === 8, 5000, 'first events');
      first.close();
      const lastId = first.events[first.events.length - 1].id!;
      await eventually(() => app.get(LogStreams).openCount === 0, 5000, 'server saw the disconnect');
      await a.chunks([4]); // written while nobody listens
      const early = first.events[0].id!;
      // Last-Event-ID wins over ?cursor=
      const second = await openSse(port, `/builds/${a.buildId}/logs/stream?cursor=${early}`, { 'Last-Event-ID': lastId });
      await a.chunks([1]);
      await a.end('failed');
      await eventually(() => second.ended(), 5000, 'end of second response');
      expect([...lineTexts(first.events), ...lineTexts(second.events)]).toEqual(a.texts());
      expect(second.events[second.events.length - 1]).toEqual({ event: 'end', data: '{"status":"failed"}' });
    });

    it('starts after ?cursor= when there is no Last-Event-ID', async () => {
      const a = newBuild();
      await a.chunks([5]);
      await a.end();
      const page = await getPage(`/builds/${a.buildId}/logs?limit=2`);
      const sse = await openSse(port, `/builds/${a.buildId}/logs/stream?cursor=${page.nextCursor}`);
      await eventually(() => sse.ended(), 5000, 'end of response');
      expect(lineTexts(sse.events)).toEqual(a.texts().slice(2));
    });

    it('keeps streams of two builds apart', async () => {
      const a = newBuild();
      const b = newBuild();
      const [sa, sb] = await Promise.all([openSse(port, `/builds/${a.buildId}/logs/stream`), openSse(port, `/builds/${b.buildId}/logs/stream`)]);
      for (let i = 0; i < 5; i++) await Promise.all([a.lines(2), b.lines(1)]);
      await Promise.all([a.end('succeeded'), b.end('failed')]);
      await eventually(() => sa.ended() && sb.ended(), 5000, 'both ends');
      expect(lineTexts(sa.events)).toEqual(a.texts());
      expect(lineTexts(sb.events)).toEqual(b.texts());
    });

    it('pauses a slow client instead of buffering for it, then resumes without gap or duplicate', async () => {
      const a = newBuild();
      const streams = app.get(LogStreams);
      const pausesBefore = streams.pauses;
      const received: string[] = [];
      let ended = false;
      let buf = '';
      let res!: http.IncomingMessage;
      await new Promise<void>((resolve) => {
        http.get({ host: '127.0.0.1', port, path: `/builds/${a.buildId}/logs/stream` }, (r) => {
          res = r;
          r.setEncoding('utf8');
          r.on('data', (chunk: string) => {
            buf += chunk;
            for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const data = /^data: (.*)$/m.exec(block)?.[1];
              if (block.includes('event: line') && data) received.push(JSON.parse(data).text);
              if (block.includes('event: end')) ended = true;
            }
          });
          resolve();
        });
      });
      res.pause(); // the client stops reading
      // write until the socket buffers are full and the server pauses the stream
      for (let i = 0; i < 400 && streams.pauses === pausesBefore; i++) {
        await a.lines(1000, 0, 200);
        if (i % 10 === 9) await sleep(50);
      }
      expect(streams.pauses).toBeGreaterThan(pausesBefore);
      await a.lines(1000, 0, 200); // written while the client is paused
      await a.end('succeeded');
      res.resume();
      await eventually(() => ended, 30_000, 'the end event');
      expect(received).toEqual(a.texts());
    }, 60_000);

    it('ends open streams when the app shuts down', async () => {
      const a = newBuild();
      await a.chunks([1]);
      const sse = await openSse(port, `/builds/${a.buildId}/logs/stream`);
      await eventually(() => sse.events.length === 1, 5000, 'first event');
      await app.close();
      await eventually(() => sse.ended(), 5000, 'end of response at shutdown');
      expect(sse.events.some((e) => e.event === 'end')).toBe(false);
    });
  });
});
