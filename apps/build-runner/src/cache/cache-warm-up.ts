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
