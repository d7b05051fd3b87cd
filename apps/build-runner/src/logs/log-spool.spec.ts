import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogSpool } from './log-spool';

const bytes = (s: string) => Buffer.from(s, 'utf8');
const text = (r: { data: Uint8Array } | null) => (r ? Buffer.from(r.data).toString('utf8') : null);

describe('LogSpool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-spool-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps records first in, first out, on disk, and empties the file when drained', async () => {
    const spool = new LogSpool(join(dir, 'a'));
    expect(spool.length).toBe(0);
    expect(await spool.peek()).toBeNull();
    await Promise.all([spool.append(7, bytes('seven')), spool.append(8, bytes('eight!')), spool.append(9, bytes('nine'))]);
    expect([spool.length, spool.bytes, spool.firstId]).toEqual([3, 15, 7]);
    expect((await stat(join(dir, 'a'))).size).toBe(15);
    expect(text(await spool.peek())).toBe('seven');
    expect(text(await spool.peek())).toBe('seven'); // peek does not consume
    await spool.shift();
    expect([text(await spool.peek()), spool.firstId]).toEqual(['eight!', 8]);
    await spool.append(10, bytes('ten'));
    await spool.shift();
    await spool.shift();
    expect(text(await spool.peek())).toBe('ten');
    await spool.shift();
    expect([spool.length, spool.bytes, spool.firstId]).toEqual([0, 0, null]);
    expect((await stat(join(dir, 'a'))).size).toBe(0);
    await spool.append(11, bytes('again'));
    expect(text(await spool.peek())).toBe('again');
    await spool.close();
    await expect(stat(join(dir, 'a'))).rejects.toThrow();
    await expect(spool.append(12, bytes('late'))).rejects.toThrow('append after close');
  });

  it('holds many records with little memory and gives them back in order', async () => {
    const spool = new LogSpool(join(dir, 'b'));
    for (let i = 1; i <= 3000; i++) await spool.append(i, bytes(`record ${i} ${'x'.repeat(i % 50)}`));
    for (let i = 1; i <= 3000; i++) {
      const r = await spool.peek();
      expect(r?.id).toBe(i);
      expect(text(r)).toBe(`record ${i} ${'x'.repeat(i % 50)}`);
      await spool.shift();
    }
    await spool.close();
  });

  it('keeps records in memory when the disk refuses them', async () => {
    const errors: unknown[] = [];
    const spool = new LogSpool(join(dir, 'no-such-dir', 'c'), (e) => errors.push(e));
    await spool.append(1, bytes('kept'));
    await spool.append(2, bytes('also kept'));
    expect(errors.length).toBeGreaterThan(0);
    expect(text(await spool.peek())).toBe('kept');
    await spool.shift();
    expect(text(await spool.peek())).toBe('also kept');
    await spool.close();
  });
});
