import { CoalescedRunner } from './coalesced-runner';

/** A work function whose runs the test finishes by hand. */
function controlled() {
  const pending: (() => void)[] = [];
  let runs = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const work = () =>
    new Promise<void>((resolve) => {
      runs++;
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      pending.push(() => {
        concurrent--;
        resolve();
      });
    });
  const finishOne = async () => {
    pending.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { work, finishOne, stats: () => ({ runs, maxConcurrent, waiting: pending.length }) };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('CoalescedRunner', () => {
  it('turns kicks in one tick into one run', async () => {
    const c = controlled();
    const r = new CoalescedRunner(c.work, () => undefined);
    r.kick();
    r.kick();
    r.kick();
    await settle();
    expect(c.stats()).toEqual({ runs: 1, maxConcurrent: 1, waiting: 1 });
    await c.finishOne();
    expect(c.stats().runs).toBe(1);
  });

  it('runs exactly once more after kicks that came during a run, never two at once', async () => {
    const c = controlled();
    const r = new CoalescedRunner(c.work, () => undefined);
    r.kick();
    await settle();
    r.kick();
    r.kick();
    await c.finishOne();
    expect(c.stats()).toEqual({ runs: 2, maxConcurrent: 1, waiting: 1 });
    await c.finishOne();
    expect(c.stats()).toEqual({ runs: 2, maxConcurrent: 1, waiting: 0 });
  });

  it('reports a failed run and still runs on the next kick', async () => {
    const errors: unknown[] = [];
    let fail = true;
    let runs = 0;
    const r = new CoalescedRunner(async () => {
      runs++;
      if (fail) throw new Error('boom');
    }, (e) => errors.push(e));
    r.kick();
    await settle();
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    fail = false;
    r.kick();
    await settle();
    expect(runs).toBe(2);
    expect(errors).toHaveLength(1);
  });

  it('stop waits for the current run and ignores later kicks', async () => {
    const c = controlled();
    const r = new CoalescedRunner(c.work, () => undefined);
    r.kick();
    await settle();
    r.kick(); // asked for again, but stop comes first
    let stopped = false;
    const s = r.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    await c.finishOne();
    await s;
    r.kick();
    await settle();
    expect(c.stats()).toEqual({ runs: 1, maxConcurrent: 1, waiting: 0 });
  });
});
