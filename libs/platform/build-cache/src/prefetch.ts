import type { CacheEntry } from './cache-store';

/** How much of the cache a worker copies during its warm-up. */
export interface PrefetchLimits {
  /** Most entries to copy; 0 copies none. */
  count: number;
  /** Most bytes (compressed) to copy in all. */
  maxBytes: number;
  /** Only entries used this recently count (ms; default 7 days): a key the builds moved away from keeps its old hits. */
  recentMs?: number;
  /** The clock, for tests. */
  now?: number;
}

export const PREFETCH_RECENT_MS = 7 * 24 * 3600_000;

/**
 * Picks the entries a fresh worker should hold: those used lately, the most hit first
 * (then the most recently used), one copy per archive digest, as many as fit in the count
 * and the byte budget (an entry too big is skipped for smaller ones after it).
 */
export function choosePrefetch(entries: CacheEntry[], limits: PrefetchLimits): CacheEntry[] {
  const now = limits.now ?? Date.now();
  const since = now - (limits.recentMs ?? PREFETCH_RECENT_MS);
  const ranked = entries
    .filter((e) => Date.parse(e.lastUsedAt) >= since)
    .sort((a, b) => b.hits - a.hits || b.lastUsedAt.localeCompare(a.lastUsedAt) || a.key.localeCompare(b.key));
  const out: CacheEntry[] = [];
  const digests = new Set<string>();
  let bytes = 0;
  for (const e of ranked) {
    if (out.length >= limits.count) break;
    if (digests.has(e.sha256) || bytes + e.size > limits.maxBytes) continue;
    digests.add(e.sha256);
    bytes += e.size;
    out.push(e);
  }
  return out;
}
