import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { LocalCache } from '@kiln/build-cache';
import type { CacheWarmUp } from '../agent/warm-up';
import { cacheStoreOf, localCacheDir } from './step-cache';

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The cache part of the agent's warm-up: both cache buckets answer, then (unless
 * `KILN_POOL_CACHE_PREFETCH` is 0) the most used entries of every project are copied to
 * this worker and unpacked there, so its first build restores them without a download
 * or an extraction (a move).
 */
export function cacheWarmUp(
  nc: NatsConnection,
  names: KilnNames,
  cfg: Pick<KilnConfig, 'workRoot' | 'poolCachePrefetch' | 'poolCachePrefetchBytes' | 'poolCachePrefetchTimeoutMs'>,
): CacheWarmUp {
  return {
    reachable: async () => (await cacheStoreOf(nc, names)).status(),
    prefetchTimeoutMs: cfg.poolCachePrefetchTimeoutMs,
    prefetch:
      cfg.poolCachePrefetch > 0
        ? async (signal) => {
            const store = await cacheStoreOf(nc, names);
            const r = await store.prefetch(new LocalCache(localCacheDir(cfg.workRoot)), { count: cfg.poolCachePrefetch, maxBytes: cfg.poolCachePrefetchBytes, signal, unpack: true });
            const failed = r.failed.length ? `, ${r.failed.length} not copied` : '';
            return {
              check: `cache prefetched: ${r.copied + r.held} entr${r.copied + r.held === 1 ? 'y' : 'ies'} (${mb(r.bytes)} copied in ${r.seconds.toFixed(2)} s${failed})`,
              warnings: r.failed.map((f) => `${f.projectId} ${f.key}: ${f.reason}`),
            };
          }
        : undefined,
  };
}

/** A running refresh of a worker's prefetched copies. */
export interface CacheRefresh {
  /**
   * Stops watching; a copy in progress finishes its entry and stops there (not waited for:
   * a restore of that entry waits for it, any other build goes on beside it).
   */
  stop(): void;
}

/** Saves arriving together (a batch of builds finishing) cause one refresh. */
const REFRESH_DEBOUNCE_MS = 500;

/**
 * While the worker is warm and idle, keeps its prefetched copies current: an entry saved
 * after the warm-up, which this worker does not hold, starts the same prefetch again
 * (one at a time, within the same limits and timeout), so a worker that warmed before a
 * save still restores it locally. The agent stops it when a lease arrives.
 */
export async function refreshWhileIdle(
  nc: NatsConnection,
  names: KilnNames,
  cfg: Pick<KilnConfig, 'workRoot' | 'poolCachePrefetch' | 'poolCachePrefetchBytes' | 'poolCachePrefetchTimeoutMs'>,
  warn: (message: string, detail: Record<string, unknown>) => void,
): Promise<CacheRefresh> {
  if (cfg.poolCachePrefetch <= 0) return { stop: () => undefined };
  const store = await cacheStoreOf(nc, names);
  const local = new LocalCache(localCacheDir(cfg.workRoot));
  const stopped = new AbortController();
  let queue: Promise<void> = Promise.resolve();
  let pending: NodeJS.Timeout | null = null;
  const refresh = async () => {
    if (stopped.signal.aborted) return;
    try {
      // a lease stops it after the entry in hand (the build may need just that one, and
      // waits for it), never midway: an abandoned copy is work the build then does again
      const signal = AbortSignal.timeout(cfg.poolCachePrefetchTimeoutMs);
      const r = await store.prefetch(local, { count: cfg.poolCachePrefetch, maxBytes: cfg.poolCachePrefetchBytes, signal, unpack: true, stopAfterEntry: stopped.signal });
      for (const f of r.failed) warn('cache refresh: an entry was not copied', { reason: `${f.projectId} ${f.key}: ${f.reason}` });
    } catch (e) {
      if (!stopped.signal.aborted) warn('cache refresh failed; the worker keeps the copies it has', { reason: (e as Error).message });
    }
  };
  const unwatch = await store.watchSaves((entry) => {
    if (stopped.signal.aborted || pending || local.has(entry.sha256)) return;
    pending = setTimeout(() => {
      pending = null;
      queue = queue.then(refresh);
    }, REFRESH_DEBOUNCE_MS);
  });
  return {
    stop: () => {
      stopped.abort(new Error('worker leased'));
      if (pending) clearTimeout(pending);
      unwatch();
    },
  };
}
