import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { CacheStore, expandKey, LocalCache, openCacheStore } from '@kiln/build-cache';
import { Aggregates, CausationInput, EventStore } from '@kiln/event-store';
import { loadConfig } from '@kiln/config';

let opened: Promise<CacheStore> | null = null;

/** Per-project cache limits from the agent's configuration. */
export function cacheLimits(): { maxBytes: number; maxAgeMs: number } {
  const cfg = loadConfig();
  return { maxBytes: cfg.cacheMaxBytes, maxAgeMs: cfg.cacheMaxAgeMs };
}

/** Where a worker keeps its prefetched cache archives: inside its own directory, gone with it. */
export function localCacheDir(workRoot: string): string {
  return join(workRoot, '.kiln-cache');
}

/**
 * One CacheStore per agent process, on the backend `KILN_CACHE_BACKEND` names (opened
 * again after a failed open: the broker may be back).
 */
export function cacheStoreOf(nc: NatsConnection, names: KilnNames): Promise<CacheStore> {
  opened ??= openCacheStore(loadConfig().cacheBackend, nc, names).catch((e: unknown) => {
    opened = null;
    throw e;
  });
  return opened;
}

export interface StepCacheContext {
  store: EventStore;
  aggs: Aggregates;
  subject: string;
  cause: CausationInput;
  names: KilnNames;
  buildId: string;
  projectId: string;
  attempt: number;
  branch: string | null;
  workspace: string;
  env: Record<string, string>;
  /** Writes a system line to the build log. */
  log: (text: string) => void;
  /**
   * Where this worker's warm-up put its prefetched cache copies; default: the one under
   * the agent's `KILN_WORK_ROOT` (see `localCacheDir`).
   */
  localCacheDir?: string;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Restores a step's cache before it runs: the key expanded, an exact hit, else the newest
 * entry of the first matching restoreKeys prefix, else a miss; shown in the log and
 * recorded as `CacheRestored`. Returns the expanded key (the save uses the same one).
 */
export async function restoreStepCache(
  ctx: StepCacheContext,
  index: number,
  spec: { key: string; paths: string[]; restoreKeys: string[] },
): Promise<{ key: string; result: 'hit' | 'partial' | 'miss' }> {
  const key = await expandKey(spec.key, { workspace: ctx.workspace, branch: ctx.branch, env: ctx.env });
  const restoreKeys = await Promise.all(spec.restoreKeys.map((k) => expandKey(k, { workspace: ctx.workspace, branch: ctx.branch, env: ctx.env })));
  const cache = await cacheStoreOf(ctx.store.nc, ctx.names);
  const local = new LocalCache(ctx.localCacheDir ?? localCacheDir(loadConfig().workRoot));
  const r = await cache.restore(ctx.projectId, key, restoreKeys, ctx.workspace, { local });
  if (r.result === 'miss') ctx.log(`kiln: cache miss for ${key}${r.reason ? ` (${r.reason})` : ''}`);
  else {
    const what = [r.result === 'partial' ? r.matchedKey : null, r.source === 'local' ? 'prefetched' : null].filter(Boolean).join(', ');
    ctx.log(`kiln: cache ${r.result === 'hit' ? 'hit' : 'partial hit'}${what ? ` (${what})` : ''} for ${key}: ${mb(r.bytes)} in ${r.seconds.toFixed(2)} s`);
  }
  await ctx.store.handle(
    ctx.aggs.build,
    ctx.subject,
    { type: 'RecordCacheRestore', data: { buildId: ctx.buildId, attempt: ctx.attempt, index, key, result: r.result, matchedKey: r.matchedKey, bytes: r.bytes, seconds: r.seconds } },
    ctx.cause,
  );
  return { key, result: r.result };
}

/**
 * Saves a step's cache after it succeeded, unless the exact key was restored (nothing
 * new to keep); recorded as `CacheSaved`. A failed save never fails the build.
 */
export async function saveStepCache(ctx: StepCacheContext, index: number, key: string, paths: string[], exactHit: boolean, limits: { maxBytes: number; maxAgeMs: number }): Promise<void> {
  const cache = await cacheStoreOf(ctx.store.nc, ctx.names);
  let saved = false;
  let reason: string | null = null;
  let bytes = 0;
  let seconds = 0;
  if (exactHit) {
    reason = 'exact key was restored; nothing to save';
  } else {
    try {
      const r = await cache.save(ctx.projectId, key, ctx.workspace, paths);
      ({ saved, bytes, seconds } = r);
      reason = r.reason ?? null;
      if (saved) await cache.enforceLimits(ctx.projectId, limits);
    } catch (e) {
      reason = `save failed: ${(e as Error).message}`;
    }
  }
  ctx.log(saved ? `kiln: cache saved ${key}: ${mb(bytes)} in ${seconds.toFixed(2)} s` : `kiln: cache not saved for ${key}: ${reason}`);
  await ctx.store.handle(ctx.aggs.build, ctx.subject, { type: 'RecordCacheSave', data: { buildId: ctx.buildId, attempt: ctx.attempt, index, key, saved, reason, bytes, seconds } }, ctx.cause);
}
