import type { LeaseJob } from '@kiln/contracts';
import type { Worker } from '@kiln/domain';

type W = Exclude<Worker, { status: 'none' }>;

/**
 * Which worker gets a lease: the one already holding this job's lease (idempotent retry),
 * else the longest-warm idle worker; a cold (connected, still warming) worker only when
 * none is warm (the App Service AppInit rule). Null when there is none.
 */
export function chooseWorker(workers: Iterable<W>, job: LeaseJob): { worker: W; cold: boolean } | null {
  let warm: W | null = null;
  let cold: W | null = null;
  for (const w of workers) {
    if (w.status === 'leased' && w.job?.buildId === job.buildId && w.job.attempt === job.attempt) return { worker: w, cold: false };
    if (w.status === 'warm' && (!warm || (w.warmAt ?? '') < (warm.warmAt ?? ''))) warm = w;
    if (w.status === 'warming' && (!cold || w.provisionedAt < cold.provisionedAt)) cold = w;
  }
  if (warm) return { worker: warm, cold: false };
  if (cold) return { worker: cold, cold: true };
  return null;
}

export interface PoolTarget {
  /** Workers to provision now. */
  provision: number;
}

/**
 * How many workers to start: enough that `minWarm` stand idle (warm, or on their way to
 * warm) however many are busy, plus one per build waiting for a worker, never more than
 * `maxWorkers` alive in all.
 */
export function planPool(input: { workers: Iterable<W>; minWarm: number; maxWorkers: number; waiting: number }): PoolTarget {
  let alive = 0;
  let idleOrStarting = 0;
  for (const w of input.workers) {
    if (w.status === 'retired' || w.status === 'lost') continue;
    alive++;
    if (w.status !== 'leased') idleOrStarting++;
  }
  const wanted = Math.max(0, input.minWarm + input.waiting - idleOrStarting);
  return { provision: Math.max(0, Math.min(wanted, input.maxWorkers - alive)) };
}
