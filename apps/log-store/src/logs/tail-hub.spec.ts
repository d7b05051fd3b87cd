import { LogChunk, LogCursor } from '@kiln/contracts';
import { compareCursor, CursorLine, linesOf, PositionedLine } from './log-cursor';
import { TailHub, TailSource } from './tail-hub';

const tick = () => new Promise((r) => setImmediate(r));

/** A fake store: records appended by the test, a live read per open(), and counted page reads. */
function fakeSource() {
  const records: { seq: number; chunk: LogChunk }[] = [];
  const live: ((seq: number, chunk: LogChunk | null) => void)[] = [];
  let n = 0;
  const pageReads: (LogCursor | null)[] = [];
  const source: TailSource = {
    async page(_buildId, after, limit) {
      pageReads.push(after);
      const lines: PositionedLine[] = [];
      let end: { status: string } | null = null;
      for (const r of records) {
        if (r.chunk.kind === 'end') {
          if (!after || r.seq >= after.seq) {
            end = { status: r.chunk.status };
            break;
          }
          continue;
        }
        for (const p of linesOf(r.seq, r.chunk)) if (compareCursor(p.pos, after) > 0 && lines.length < limit) lines.push(p);
      }
      return { lines, end };
    },
    async open(_buildId, onRecord) {
      live.push(onRecord);
      return { stop: async () => undefined };
    },
  };
  const append = (count: number) => {
    const lines = Array.from({ length: count }, () => ({ n: ++n, t: n, stream: 'stdout' as const, step: 0, text: `line ${n}` }));
    const r = { seq: records.length + 1, chunk: { kind: 'lines' as const, buildId: 'b', attempt: 1, chunk: records.length + 1, lines } };
    records.push(r);
    for (const l of live) l(r.seq, r.chunk);
  };
  const end = () => {
    const r = { seq: records.length + 1, chunk: { kind: 'end' as const, buildId: 'b', attempt: 1, status: 'succeeded' } };
    records.push(r);
    for (const l of live) l(r.seq, r.chunk);
  };
  return { source, append, end, pageReads, texts: () => records.flatMap((r) => (r.chunk.kind === 'lines' ? r.chunk.lines.map((l) => l.text) : [])) };
}

function watcher(hub: TailHub, after: string | null) {
  const got: CursorLine[] = [];
  const rec = { got, end: null as string | null };
  const pos = after ? { seq: Number(after.split('-')[0]), index: Number(after.split('-')[1]) } : null;
  const tail = hub.watch('b', pos, { onLine: (l) => got.push(l), onEnd: (s) => (rec.end = s) });
  return { ...rec, rec, tail };
}

describe('TailHub', () => {
  it('lets a watcher a little behind catch up from the shared window of recent lines, without reading the store', async () => {
    const f = fakeSource();
    const hub = new TailHub(f.source);
    f.append(3);
    const first = watcher(hub, null);
    await first.tail.live;
    expect(f.pageReads).toEqual([null]); // the first watcher reads what existed
    for (let i = 0; i < 5; i++) f.append(4);
    const behind = first.got[6].cursor; // a line the live read handed over
    const late = watcher(hub, behind);
    await late.tail.live;
    expect(f.pageReads).toHaveLength(1); // served from memory
    f.append(2);
    f.end();
    await tick();
    expect(first.rec.end).toBe('succeeded');
    expect(late.rec.end).toBe('succeeded');
    expect(first.got.map((l) => l.text)).toEqual(f.texts());
    expect(late.got.map((l) => l.text)).toEqual(f.texts().slice(7));
  });

  it('reads the store for a watcher behind the window', async () => {
    const f = fakeSource();
    const hub = new TailHub(f.source);
    f.append(3);
    const first = watcher(hub, null);
    await first.tail.live;
    f.append(2);
    const old = watcher(hub, first.got[1].cursor); // a line from before the live read opened
    await old.tail.live;
    expect(f.pageReads).toHaveLength(2);
    f.end();
    await tick();
    expect(old.got.map((l) => l.text)).toEqual(f.texts().slice(2));
  });
});
