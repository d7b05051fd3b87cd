import { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { InvalidError, kilnNames, parseLogCursor } from '@kiln/contracts';
import { connectNats, deleteStreams, ensureStreams } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { eventually, LogWriter, sleep } from '../../test/log-fixtures';
import { CursorLine, LogReader, LogTail } from './log-reader';

describe('LogReader on real JetStream', () => {
  const names = kilnNames(testNamespace('logr'));
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let reader: LogReader;
  let builds = 0;
  /** A writer for a fresh build id (each test its own build). */
  const newBuild = (attempt = 1) => new LogWriter(js, names, `b${++builds}`, attempt);

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'log-reader-test');
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    reader = new LogReader(js, jsm, names);
  });
  afterAll(async () => {
    await reader.close();
    await deleteStreams(jsm, names);
    await nc.drain();
  });

  /** Pages through the whole log with `limit`, returning every line and the pages' shapes. */
  async function readAll(buildId: string, limit: number, step?: number) {
    const lines: CursorLine[] = [];
    const pages: { count: number; complete: boolean }[] = [];
    let after = null;
    for (let i = 0; i < 1000; i++) {
      const page = await reader.history(buildId, { after, limit, step });
      lines.push(...page.lines);
      pages.push({ count: page.lines.length, complete: page.end !== null });
      if (page.end) return { lines, pages, status: page.end.status };
      if (!page.nextCursor) return { lines, pages, status: null };
      expect(page.nextCursor).toBe(page.lines[page.lines.length - 1].cursor);
      after = parseLogCursor(page.nextCursor);
    }
    throw new Error('paging did not finish');
  }

  /** Starts a tail that records what it receives. */
  function record(buildId: string, after: string | null = null) {
    const rec = { after, lines: [] as CursorLine[], end: null as string | null, error: null as unknown, tail: null as unknown as LogTail };
    rec.tail = reader.tail(
      buildId,
      parseLogCursor(after),
      (l) => rec.lines.push(l),
      (s) => (rec.end = s),
      (e) => (rec.error = e),
    );
    return rec;
  }

  describe('history', () => {
    it('pages with cursor and limit reproduce every line in order exactly once, then report the end', async () => {
      const a = newBuild();
      await a.chunks([1, 7, 3, 12, 1, 1, 9, 5, 2, 10, 4, 6]); // 61 lines
      await a.end('failed');
      for (const limit of [1, 5, 7, 61, 5000]) {
        const r = await readAll(a.buildId, limit);
        expect(r.lines.map((l) => l.text)).toEqual(a.texts());
        expect(new Set(r.lines.map((l) => l.cursor)).size).toBe(61);
        expect(r.status).toBe('failed');
        expect(r.pages.slice(0, -1).every((p) => p.count === limit && !p.complete)).toBe(true);
      }
      // a page that fills exactly at the last line still reports the end
      const whole = await reader.history(a.buildId, { limit: 61 });
      expect(whole.lines).toHaveLength(61);
      expect(whole.end).toEqual({ status: 'failed' });
      expect(whole.lines[0]).toEqual({ cursor: whole.lines[0].cursor, n: 1, t: a.written[0].t, stream: 'stdout', step: 0, text: `${a.buildId} line 1`, attempt: 1 });
    });

    it('stops at what exists now: no end, nextCursor resumes once more lines arrive', async () => {
      const a = newBuild();
      await a.chunks([3, 4]);
      const first = await reader.history(a.buildId, { limit: 1000 });
      expect(first.lines.map((l) => l.text)).toEqual(a.texts());
      expect(first.end).toBeNull();
      await a.chunks([2]);
      await a.end();
      const next = await reader.history(a.buildId, { after: parseLogCursor(first.nextCursor), limit: 1000 });
      expect(next.lines.map((l) => l.text)).toEqual(a.texts().slice(7));
      expect(next.end).toEqual({ status: 'succeeded' });
      const past = await reader.history(a.buildId, { after: parseLogCursor(next.nextCursor), limit: 1000 });
      expect(past).toEqual({ lines: [], nextCursor: null, end: { status: 'succeeded' } });
    });

    it('resumes from a cursor in the middle of a chunk without gap or duplicate', async () => {
      const a = newBuild();
      await a.chunks([5, 5, 5]);
      const all = (await reader.history(a.buildId, { limit: 100 })).lines;
      for (const i of [0, 3, 4, 5, 7, 13]) {
        const rest = await reader.history(a.buildId, { after: parseLogCursor(all[i].cursor), limit: 100 });
        expect(rest.lines).toEqual(all.slice(i + 1));
      }
      const last = await reader.history(a.buildId, { after: parseLogCursor(all[14].cursor), limit: 100 });
      expect(last).toEqual({ lines: [], nextCursor: null, end: null });
    });

    it('filters by step, paging included', async () => {
      const a = newBuild();
      await a.lines(2, null);
      await a.chunks([3, 4], 0);
      await a.chunks([5, 1, 6], 1);
      await a.lines(2, 0);
      await a.end();
      for (const limit of [1, 4, 100]) {
        const r = await readAll(a.buildId, limit, 1);
        expect(r.lines.map((l) => l.text)).toEqual(a.texts((l) => l.step === 1));
        expect(r.lines.every((l) => l.step === 1)).toBe(true);
      }
      const zero = await readAll(a.buildId, 3, 0);
      expect(zero.lines.map((l) => l.text)).toEqual(a.texts((l) => l.step === 0));
    });

    it('keeps interleaved builds apart', async () => {
      const a = newBuild();
      const b = newBuild();
      for (let i = 0; i < 10; i++) {
        await a.lines(1 + (i % 3));
        await b.lines(2);
      }
      await b.end('cancelled');
      const ra = await readAll(a.buildId, 4);
      const rb = await readAll(b.buildId, 4);
      expect(ra.lines.map((l) => l.text)).toEqual(a.texts());
      expect(ra.status).toBeNull();
      expect(rb.lines.map((l) => l.text)).toEqual(b.texts());
      expect(rb.status).toBe('cancelled');
    });

    it('returns nothing for a build with no log and rejects bad arguments', async () => {
      await expect(reader.history('nothing-here', { limit: 10 })).resolves.toEqual({ lines: [], nextCursor: null, end: null });
      await expect(reader.history('b1', { limit: 0 })).rejects.toBeInstanceOf(InvalidError);
      await expect(reader.history('b1', { limit: 5001 })).rejects.toBeInstanceOf(InvalidError);
      await expect(reader.history('not.a.token', { limit: 10 })).rejects.toBeInstanceOf(InvalidError);
      expect(() => reader.tail('a b', null, () => undefined, () => undefined)).toThrow(InvalidError);
    });

    it('carries the attempt of each chunk', async () => {
      const a = newBuild(1);
      await a.lines(2);
      const retry = new LogWriter(js, names, a.buildId, 2);
      await retry.lines(3);
      const page = await reader.history(a.buildId, { limit: 10 });
      expect(page.lines.map((l) => l.attempt)).toEqual([1, 1, 2, 2, 2]);
    });

    it('pages() yields every line that exists now', async () => {
      const a = newBuild();
      await a.chunks([4, 4, 4]);
      const out: string[] = [];
      for await (const page of reader.pages(a.buildId, { pageSize: 5 })) out.push(...page.map((l) => l.text));
      expect(out).toEqual(a.texts());
    });
  });

  describe('tail', () => {
    it('receives history, then lines published after it started, and ends on the end record', async () => {
      const a = newBuild();
      await a.chunks([2, 3]);
      const rec = record(a.buildId);
      await rec.tail.live;
      await eventually(() => rec.lines.length === 5, 5000, 'history');
      await a.chunks([1, 4]);
      await sleep(50);
      await a.chunks([6]);
      await a.end('succeeded');
      await eventually(() => rec.end !== null, 5000, 'end');
      expect(rec.lines.map((l) => l.text)).toEqual(a.texts());
      expect(rec.end).toBe('succeeded');
      expect(rec.error).toBeNull();
      await rec.tail.stop();
      expect(reader.tailStats()).toEqual({ feeds: 0, watchers: 0 });
    });

    it('starts on a build with no log yet', async () => {
      const a = newBuild();
      const rec = record(a.buildId);
      await rec.tail.live;
      await a.chunks([3]);
      await a.end('failed');
      await eventually(() => rec.end !== null, 5000, 'end');
      expect(rec.lines.map((l) => l.text)).toEqual(a.texts());
      expect(rec.end).toBe('failed');
    });

    it('resumes from a middle cursor without gap or duplicate', async () => {
      const a = newBuild();
      await a.chunks([4, 4]);
      const all = (await reader.history(a.buildId, { limit: 100 })).lines;
      const rec = record(a.buildId, all[5].cursor);
      await a.chunks([3]);
      await a.end();
      await eventually(() => rec.end !== null, 5000, 'end');
      expect(rec.lines.map((l) => l.text)).toEqual(a.texts().slice(6));
    });

    it('ends at once on a finished build and delivers the rest first', async () => {
      const a = newBuild();
      await a.chunks([2, 2]);
      await a.end('succeeded');
      const rec = record(a.buildId, '0-0');
      await eventually(() => rec.end !== null, 5000, 'end');
      expect(rec.lines.map((l) => l.text)).toEqual(a.texts());
    });

    it('keeps two concurrent builds apart', async () => {
      const a = newBuild();
      const b = newBuild();
      const ra = record(a.buildId);
      const rb = record(b.buildId);
      await Promise.all([ra.tail.live, rb.tail.live]);
      for (let i = 0; i < 8; i++) await Promise.all([a.lines(2), b.lines(3)]);
      await Promise.all([a.end('succeeded'), b.end('failed')]);
      await eventually(() => ra.end !== null && rb.end !== null, 5000, 'both ends');
      expect(ra.lines.map((l) => l.text)).toEqual(a.texts());
      expect(rb.lines.map((l) => l.text)).toEqual(b.texts());
      expect([ra.end, rb.end]).toEqual(['succeeded', 'failed']);
    });

    it('shares one live read between the watchers of a build', async () => {
      const a = newBuild();
      await a.chunks([3]);
      const first = record(a.buildId);
      await first.tail.live;
      await eventually(() => first.lines.length === 3);
      const atEdge = record(a.buildId, first.lines[2].cursor);
      const fromStart = record(a.buildId);
      const fromMiddle = record(a.buildId, first.lines[0].cursor);
      expect(reader.tailStats()).toEqual({ feeds: 1, watchers: 4 });
      await Promise.all([atEdge.tail.live, fromStart.tail.live, fromMiddle.tail.live]);
      await a.chunks([2, 2]);
      await eventually(() => first.lines.length === 7);
      await fromMiddle.tail.stop();
      expect(reader.tailStats()).toEqual({ feeds: 1, watchers: 3 });
      await a.end();
      await eventually(() => [first, atEdge, fromStart].every((r) => r.end !== null), 5000, 'ends');
      expect(first.lines.map((l) => l.text)).toEqual(a.texts());
      expect(fromStart.lines.map((l) => l.text)).toEqual(a.texts());
      expect(atEdge.lines.map((l) => l.text)).toEqual(a.texts().slice(3));
      expect(fromMiddle.end).toBeNull();
      expect(reader.tailStats()).toEqual({ feeds: 0, watchers: 0 });
    });

    it('gives every watcher joining while lines stream in each line once, in order', async () => {
      const a = newBuild();
      await a.chunks([5, 5]);
      const recs = [record(a.buildId)];
      const writing = (async () => {
        for (let i = 0; i < 40; i++) {
          await a.lines(1 + (i % 4));
          if (i % 3 === 0) await sleep(5);
        }
      })();
      for (let i = 0; i < 12; i++) {
        await sleep(7);
        // alternately from the start, from a recent line of another watcher, and at its edge
        const seen = recs[recs.length - 1].lines;
        const after = i % 3 === 0 || seen.length === 0 ? null : seen[Math.max(0, seen.length - 1 - (i % 2) * 3)].cursor;
        recs.push(record(a.buildId, after));
      }
      await writing;
      await a.end();
      await eventually(() => recs.every((r) => r.end !== null), 10_000, 'every watcher ended');
      const all = (await reader.history(a.buildId, { limit: 5000 })).lines;
      expect(all.map((l) => l.text)).toEqual(a.texts());
      for (const r of recs) {
        expect(r.error).toBeNull();
        const from = r.after === null ? 0 : all.findIndex((l) => l.cursor === r.after) + 1;
        expect(r.lines).toEqual(all.slice(from));
      }
      expect(recs[0].lines).toEqual(all);
      expect(reader.tailStats()).toEqual({ feeds: 0, watchers: 0 });
    });

    it('closes the live read when the last watcher stops, and reopens for the next', async () => {
      const a = newBuild();
      await a.chunks([2]);
      const r1 = record(a.buildId);
      const r2 = record(a.buildId);
      await Promise.all([r1.tail.live, r2.tail.live]);
      await r1.tail.stop();
      expect(reader.tailStats()).toEqual({ feeds: 1, watchers: 1 });
      await r2.tail.stop();
      await r2.tail.stop();
      expect(reader.tailStats()).toEqual({ feeds: 0, watchers: 0 });
      const r3 = record(a.buildId, r2.lines.length ? r2.lines[r2.lines.length - 1].cursor : null);
      await a.chunks([1]);
      await a.end();
      await eventually(() => r3.end !== null);
      const seen = [...r2.lines, ...r3.lines].map((l) => l.text);
      expect(seen).toEqual(a.texts());
    });
  });
});
