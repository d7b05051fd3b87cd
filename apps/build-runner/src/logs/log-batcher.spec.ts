import { jsonBytes, LogBatcher } from './log-batcher';
import type { LogLine } from './log-line';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const line = (text: string, step: number | null = 0) => ({ t: 1_700_000_000_000, stream: 'stdout' as const, step, text });

/** A fake transport that records every call and checks that sends never overlap. */
function recorder(behaviour: (call: number, lines: LogLine[]) => Promise<void> = () => Promise.resolve()) {
  const calls: LogLine[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (lines: LogLine[]) => {
    calls.push(lines.map((l) => ({ ...l })));
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await behaviour(calls.length, lines);
    } finally {
      inFlight--;
    }
  };
  return { send, calls, maxInFlight: () => maxInFlight };
}

describe('LogBatcher', () => {
  it('numbers lines from 1 and sends lines pushed together in one batch', async () => {
    const r = recorder();
    const batcher = new LogBatcher({ send: r.send });
    expect(batcher.push(line('a')).n).toBe(1);
    batcher.push(line('b'));
    batcher.push({ t: 5, stream: 'system', step: null, text: 'c' });
    expect(r.calls).toHaveLength(0); // not synchronously
    await batcher.flush();
    expect(r.calls).toEqual([
      [
        { n: 1, t: 1_700_000_000_000, stream: 'stdout', step: 0, text: 'a' },
        { n: 2, t: 1_700_000_000_000, stream: 'stdout', step: 0, text: 'b' },
        { n: 3, t: 5, stream: 'system', step: null, text: 'c' },
      ],
    ]);
    expect(batcher.unsentCount).toBe(0);
  });

  it('accumulates while a send is in flight and sends the accumulated batch right after', async () => {
    const gates: Deferred[] = [];
    const r = recorder(() => {
      const d = deferred();
      gates.push(d);
      return d.promise;
    });
    const batcher = new LogBatcher({ send: r.send });
    batcher.push(line('1'));
    await tick();
    expect(r.calls.map((c) => c.map((l) => l.text))).toEqual([['1']]);
    batcher.push(line('2'));
    await tick();
    batcher.push(line('3'));
    batcher.push(line('4'));
    await tick();
    expect(r.calls).toHaveLength(1); // still waiting for the first send
    gates[0]?.resolve();
    await tick();
    expect(r.calls.map((c) => c.map((l) => l.text))).toEqual([['1'], ['2', '3', '4']]);
    gates[1]?.resolve();
    await batcher.flush();
    expect(r.maxInFlight()).toBe(1);
  });

  it('splits into sequential sends that never exceed maxBatchBytes, preserving order', async () => {
    const r = recorder(() => new Promise((res) => setTimeout(res, 1)));
    const maxBatchBytes = 400;
    const batcher = new LogBatcher({ send: r.send, maxBatchBytes });
    for (let i = 0; i < 50; i++) batcher.push(line(`line ${i} ${'x'.repeat(i % 7 * 10)}`));
    await batcher.flush();
    expect(r.calls.length).toBeGreaterThan(5);
    for (const batch of r.calls) {
      expect(batch.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThanOrEqual(maxBatchBytes);
    }
    expect(r.calls.flat().map((l) => l.n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(r.maxInFlight()).toBe(1);
  });

  it('sends a single line larger than maxBatchBytes on its own', async () => {
    const r = recorder();
    const batcher = new LogBatcher({ send: r.send, maxBatchBytes: 100 });
    batcher.push(line('small'));
    batcher.push(line('y'.repeat(500)));
    batcher.push(line('small again'));
    await batcher.flush();
    expect(r.calls.map((c) => c.map((l) => l.n))).toEqual([[1], [2], [3]]);
  });

  it('retries a rejected batch with backoff, without duplication or loss', async () => {
    const errors: number[] = [];
    const r = recorder((call) => (call <= 3 ? Promise.reject(new Error(`down ${call}`)) : Promise.resolve()));
    const batcher = new LogBatcher({ send: r.send, onSendError: (_e, attempt) => errors.push(attempt) });
    const started = Date.now();
    batcher.push(line('a'));
    batcher.push(line('b'));
    await tick();
    batcher.push(line('c')); // arrives while the first batch is failing
    await batcher.flush();
    const elapsed = Date.now() - started;
    expect(errors).toEqual([1, 2, 3]);
    // 100 + 200 + 400 ms of backoff
    expect(elapsed).toBeGreaterThanOrEqual(650);
    const texts = r.calls.map((c) => c.map((l) => l.text));
    expect(texts).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b'], ['a', 'b'], ['c']]);
    const delivered = r.calls.slice(3).flat().map((l) => l.n);
    expect(delivered).toEqual([1, 2, 3]);
    expect(r.maxInFlight()).toBe(1);
  });

  it('caps the backoff at retryMaxMs', async () => {
    const times: number[] = [];
    const r = recorder((call) => {
      times.push(Date.now());
      return call <= 5 ? Promise.reject(new Error('down')) : Promise.resolve();
    });
    const batcher = new LogBatcher({ send: r.send, retryInitialMs: 10, retryMaxMs: 30 });
    batcher.push(line('a'));
    await batcher.flush();
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps).toHaveLength(5);
    for (const gap of gaps.slice(2)) expect(gap).toBeLessThan(200);
  });

  it('flush resolves immediately when nothing is pending and only waits for lines pushed before it', async () => {
    const gates: Deferred[] = [];
    const r = recorder(() => {
      const d = deferred();
      gates.push(d);
      return d.promise;
    });
    const batcher = new LogBatcher({ send: r.send });
    await batcher.flush();
    batcher.push(line('a'));
    let flushed = false;
    const f = batcher.flush().then(() => {
      flushed = true;
    });
    await tick();
    batcher.push(line('b'));
    expect(flushed).toBe(false);
    gates[0]?.resolve();
    await f;
    expect(flushed).toBe(true);
    expect(batcher.unsentCount).toBe(1);
    await tick();
    gates[1]?.resolve();
    await batcher.close();
    expect(batcher.unsentCount).toBe(0);
  });

  it('close waits for pending lines, then rejects further pushes', async () => {
    const r = recorder(() => new Promise((res) => setTimeout(res, 20)));
    const batcher = new LogBatcher({ send: r.send });
    batcher.push(line('a'));
    await tick();
    batcher.push(line('b'));
    await batcher.close();
    expect(r.calls.flat().map((l) => l.text)).toEqual(['a', 'b']);
    expect(() => batcher.push(line('late'))).toThrow('push after close');
    await expect(batcher.close()).resolves.toBeUndefined();
  });

  it('close gives up after closeTimeoutMs when send keeps failing', async () => {
    const r = recorder(() => Promise.reject(new Error('broker down')));
    const batcher = new LogBatcher({ send: r.send, closeTimeoutMs: 300 });
    batcher.push(line('a'));
    batcher.push(line('b'));
    const flushed = batcher.flush();
    const started = Date.now();
    await batcher.close();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    await expect(flushed).rejects.toThrow('gave up sending 2 log line(s)');
    expect(batcher.unsentCount).toBe(2);
    const callsAtClose = r.calls.length;
    await new Promise((res) => setTimeout(res, 300));
    expect(r.calls.length).toBe(callsAtClose); // no more retries
  });

  it('close gives up on a send that never settles', async () => {
    const r = recorder(() => new Promise<void>(() => undefined));
    const batcher = new LogBatcher({ send: r.send, closeTimeoutMs: 100 });
    batcher.push(line('a'));
    await batcher.close();
    expect(batcher.unsentCount).toBe(1);
  });
});

describe('jsonBytes', () => {
  it('is the exact UTF-8 length of the JSON of a line', () => {
    const texts = ['', 'plain ascii', 'quote " and \\ backslash', 'tab\tnewline\n\u0000', 'ümlaut €', 'emoji 😀', 'lone \ud83d half', '\u001b[31mred\u001b[0m', 'x'.repeat(5000)];
    for (const text of texts) {
      for (const line of [
        { n: 1, t: 5, stream: 'stdout' as const, step: 0, text },
        { n: 123456, t: 1_700_000_000_123, stream: 'system' as const, step: null, text },
        { n: 99, t: 1.5, stream: 'stderr' as const, step: 12, text },
      ]) {
        expect(jsonBytes(line)).toBe(Buffer.byteLength(JSON.stringify(line), 'utf8'));
      }
    }
  });
});
