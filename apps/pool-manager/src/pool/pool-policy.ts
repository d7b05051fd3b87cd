import type { LeaseJob } from '@kiln/contracts';
import { Build, isFinal, Worker } from '@kiln/domain';

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

/**
 * Whether a leased build is past its start (it ran a step, or it ended), which ends the
 * hold on the pool's top-up early. Only that evidence counts: the pool's view of the builds
 * may still say 'requested', or not know the build, when the lease is already taken.
 */
export function pastItsStart(b: Build | undefined): boolean {
  return b !== undefined && b.status !== 'none' && (isFinal(b) || (b.status === 'running' && b.steps.some((s) => s.startedAt !== null)));
}

export interface PoolTarget {
  /** Workers to provision now. */
  provision: number;
  /** Workers that topping up to `minWarm` would start, held back while a build starts (see {@link planPool}). */
  deferred: number;
  /** Idle workers to retire now (idle past the TTL, above `minWarm`), oldest idle first. */
  retire: string[];
  /** When the next idle worker passes its TTL (epoch ms), or null: the caller sets one timer. */
  nextExpiry: number | null;
}

/**
 * How many workers to start or stop: enough that `minWarm` stand idle (warm, or on their
 * way to warm) however many are busy, plus one per queued build that no worker holds yet,
 * never more than `maxWorkers` alive; idle warm workers beyond `minWarm` retire once they
 * have been idle for `idleTtlMs`.
 *
 * A build that just took a warm worker comes first: while `starting` builds are between
 * their lease and their first step, topping the pool back up to `minWarm` waits, as long
 * as a warm worker still stands idle and no build is waiting. Starting an agent costs a
 * core for most of a second on a small host, and would otherwise land exactly on the
 * started build's checkout. Builds waiting for a worker are never held back, and the
 * caller bounds how long a build counts as starting.
 */
export function planPool(input: {
  workers: Iterable<W>;
  minWarm: number;
  maxWorkers: number;
  /** Queued builds waiting for a worker. */
  waiting: number;
  /** Builds leased to this pool's workers that have not run their first step yet. */
  starting?: number;
  now?: number;
  idleTtlMs?: number;
}): PoolTarget {
  let alive = 0;
  let idleOrStarting = 0;
  const idleWarm: W[] = [];
  for (const w of input.workers) {
    if (w.status === 'retired' || w.status === 'lost') continue;
    alive++;
    if (w.status !== 'leased') idleOrStarting++;
    if (w.status === 'warm') idleWarm.push(w);
  }
  const wanted = Math.max(0, input.minWarm + input.waiting - idleOrStarting);
  const allowed = Math.max(0, Math.min(wanted, input.maxWorkers - alive));
  const holdBack = (input.starting ?? 0) > 0 && input.waiting === 0 && idleWarm.length > 0;
  const provision = holdBack ? 0 : allowed;
  const retire: string[] = [];
  let nextExpiry: number | null = null;
  if (input.idleTtlMs !== undefined && input.now !== undefined && provision === 0) {
    const surplus = idleOrStarting - input.minWarm - input.waiting;
    idleWarm.sort((a, b) => (a.warmAt ?? '').localeCompare(b.warmAt ?? ''));
    for (const w of idleWarm) {
      const expires = Date.parse(w.warmAt ?? '') + input.idleTtlMs;
      if (retire.length < surplus && expires <= input.now) retire.push(w.workerId);
      else if (retire.length < surplus && (nextExpiry === null || expires < nextExpiry)) nextExpiry = expires;
    }
  }
  return { provision, deferred: holdBack ? allowed : 0, retire, nextExpiry };
}
