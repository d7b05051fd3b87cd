import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stallGuard } from './stall-guard';

describe('stallGuard', () => {
  it('fails when the source stops sending before its end', async () => {
    const source = new PassThrough();
    source.write(Buffer.from('first chunk'));
    const got: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (got.push(c), cb()) });
    const t0 = Date.now();
    await expect(pipeline(source, stallGuard(100, () => 'no bytes for 100 ms'), sink)).rejects.toThrow('no bytes for 100 ms');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(Buffer.concat(got).toString()).toBe('first chunk');
  });

  it('passes a slow but steady source through, and does not count time spent waiting on a slow reader', async () => {
    async function* steady() {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 40));
        yield Buffer.alloc(64 * 1024, i);
      }
    }
    let n = 0;
    const slowSink = new Writable({
      highWaterMark: 1,
      write: (c: Buffer, _e, cb) => {
        n += c.length;
        setTimeout(cb, 150); // each write takes longer than the guard's window
      },
    });
    await pipeline(Readable.from(steady()), stallGuard(100, () => 'stalled'), slowSink);
    expect(n).toBe(5 * 64 * 1024);
  });
});
