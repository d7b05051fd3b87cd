import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { NatsConnection } from 'nats';
import { Attr, ConcurrencyError, KilnNames } from '@kiln/contracts';
import { inSpan } from '@kiln/telemetry';
import type { CacheBackend, CacheObjectInfo } from './cache-backend';
import { LocalCache } from './local-cache';
import { sha256Meter } from './meter';
import { NatsCacheBackend } from './nats-cache-backend';
import { stallGuard } from './stall-guard';
import { moveInto } from './move-into';
import { choosePrefetch, PrefetchLimits } from './prefetch';
import { tarCreate, tarExtract } from './tar';

/** A cache entry as its pointer records it. */
export interface CacheEntry {
  projectId: string;
  key: string;
  /** The immutable object holding the compressed tar stream. */
  object: string;
  /** SHA-256 (hex) of the object's bytes, checked on every restore. */
  sha256: string;
  size: number;
  createdAt: string;
  lastUsedAt: string;
  hits: number;
}

/** Where a restored archive was read from: this worker's prefetched copy, or the object store. */
export type RestoreSource = 'local' | 'store';

export type RestoreResult =
  | { result: 'hit' | 'partial'; matchedKey: string; bytes: number; seconds: number; source: RestoreSource }
  | { result: 'miss'; matchedKey: null; bytes: 0; seconds: number; reason?: string };

export interface SaveResult {
  saved: boolean;
  bytes: number;
  seconds: number;
  reason?: string;
}

export interface RestoreOptions {
  /**
   * This worker's prefetched copies. One is used only when it holds the very archive the
   * key's pointer names now (same SHA-256), and is checked again while extracting; a
   * damaged copy is dropped and the object store read instead.
   */
  local?: LocalCache | null;
}

export interface PrefetchResult {
  /** Entries copied now. */
  copied: number;
  /** Entries this worker held already. */
  held: number;
  /** Bytes copied now. */
  bytes: number;
  seconds: number;
  /** Entries that could not be copied, with the reason (the others are still copied). */
  failed: { projectId: string; key: string; reason: string }[];
}

/** How much cache a project may keep (see `KILN_CACHE_MAX_BYTES`, `KILN_CACHE_MAX_AGE_MS`). */
export interface CacheLimits {
  /** Total archive bytes per project; least recently used entries go first past it. */
  maxBytes: number;
  /** Entries unused for this long go (ms). */
  maxAgeMs: number;
  /** The clock, for tests. */
  now?: number;
}

export interface CacheStoreOptions {
  /**
   * A restore whose archive stops arriving for this long is a miss (ms; default 30 s): an
   * object deleted while it is read (the entry evicted meanwhile) never ends otherwise.
   */
  stallMs?: number;
}

const STALL_MS = 30_000;

/** Longest a restore waits for this worker's copy of its entry being made (then it downloads). */
const LOCAL_COPY_WAIT_MS = 30_000;

/** Restores of one entry at once race to count their use; past this many conflicts one goes uncounted. */
const TOUCH_ATTEMPTS = 5;

/** Objects no pointer references are deleted once older than this (a reader may still hold one). */
const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * The build cache: entries are immutable objects, and pointers map `<project>.<key>` to
 * the entry, both kept by a `CacheBackend` (the NATS Object Store + KV by default, or a
 * local directory). A save streams `tar | gzip` into a new object and only then points
 * the key at it, so two builds saving one key at once both succeed (the later pointer
 * wins) and a reader never sees a half-written archive. A restore checks the SHA-256
 * while it streams and treats a mismatch as a miss.
 */
export class CacheStore {
  /** Archives read, by source: lets tests (and logs) tell a prefetched restore from a download. */
  readonly reads = { store: 0, local: 0 };
  private readonly stallMs: number;

  constructor(
    /** Where objects and pointers live (tests reach in to damage an object on purpose). */
    readonly backend: CacheBackend,
    opts: CacheStoreOptions = {},
  ) {
    this.stallMs = opts.stallMs ?? STALL_MS;
  }

  /** The cache on NATS (the default backend), opening or creating its two buckets. */
  static async open(nc: NatsConnection, names: KilnNames, replicas = 1, opts: CacheStoreOptions = {}): Promise<CacheStore> {
    return new CacheStore(await NatsCacheBackend.open(nc, names, replicas), opts);
  }

  private get objects() {
    return this.backend.objects;
  }

  private get pointers() {
    return this.backend.pointers;
  }

  private pointerKey(projectId: string, key: string): string {
    return `${projectId}.${Buffer.from(key).toString('base64url') || '_'}`;
  }

  async get(projectId: string, key: string): Promise<CacheEntry | null> {
    const e = await this.pointers.get(this.pointerKey(projectId, key));
    return e && (JSON.parse(e.value) as CacheEntry);
  }

  /** Every entry of a project. */
  async list(projectId: string): Promise<CacheEntry[]> {
    return (await this.entries(`${projectId}.`)).sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt));
  }

  /** Every entry of every project. */
  listAll(): Promise<CacheEntry[]> {
    return this.entries();
  }

  private async entries(prefix?: string): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const k of await this.pointers.keys(prefix)) {
      const e = await this.pointers.get(k);
      if (e) out.push(JSON.parse(e.value) as CacheEntry);
    }
    return out;
  }

  /**
   * Asks the backend for its status: proves the cache answers (used by the agent's
   * warm-up). Returns a one-line description.
   */
  async status(): Promise<string> {
    return `cache reachable (${await this.backend.status()})`;
  }

  /**
   * Calls `onSaved` with every entry saved from now on (a save writes a pointer with no
   * hits; a restore's hit count update is not a save). Returns a function that stops.
   */
  watchSaves(onSaved: (entry: CacheEntry) => void): Promise<() => void> {
    return this.pointers.watch((_key, value) => {
      const entry = JSON.parse(value) as CacheEntry;
      if (entry.hits === 0) onSaved(entry);
    });
  }

  /**
   * Restores `key` into `dir`; when it is missing, the newest entry whose key starts with
   * the first `restoreKeys` prefix that has any (a partial hit). The archive is unpacked
   * aside and moved in only once its checksum matched, so a damaged one restores nothing.
   */
  async restore(projectId: string, key: string, restoreKeys: string[], dir: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    let entry = await inSpan('cache.lookup', {}, () => this.get(projectId, key));
    let result: 'hit' | 'partial' = 'hit';
    if (!entry && restoreKeys.length) {
      const all = await this.list(projectId);
      for (const prefix of restoreKeys) {
        const match = all.filter((e) => e.key.startsWith(prefix)).sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
        if (match) {
          entry = match;
          result = 'partial';
          break;
        }
      }
    }
    if (!entry) return { result: 'miss', matchedKey: null, bytes: 0, seconds: seconds() };
    try {
      let source: RestoreSource = 'local';
      const local = opts.local;
      let bytes = local ? await inSpan('cache.from-local', {}, () => this.fromLocal(entry, local, dir)) : null;
      if (bytes === null) {
        source = 'store';
        bytes = await inSpan('cache.from-store', { [Attr.cacheBytes]: entry.size }, () => this.fromStore(entry, dir));
      }
      await inSpan('cache.touch', {}, () => this.touch(projectId, entry, new Date().toISOString()));
      return { result, matchedKey: entry.key, bytes, seconds: seconds(), source };
    } catch (e) {
      return { result: 'miss', matchedKey: null, bytes: 0, seconds: seconds(), reason: (e as Error).message };
    }
  }

  /**
   * Records a use of `entry` (last use, hits) only while the key still points at it, by a
   * compare-and-set on the pointer's revision: a save or an eviction of the key that
   * happened during the restore is kept, not overwritten with the entry read before it.
   */
  private async touch(projectId: string, entry: CacheEntry, now: string): Promise<void> {
    const k = this.pointerKey(projectId, entry.key);
    for (let attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
      const e = await this.pointers.get(k);
      if (!e) return;
      const current = JSON.parse(e.value) as CacheEntry;
      if (current.object !== entry.object) return;
      try {
        await this.pointers.update(k, JSON.stringify({ ...current, lastUsedAt: now, hits: current.hits + 1 }), e.revision);
        return;
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err;
      }
    }
  }

  /**
   * Restores from this worker's copies, if it holds the entry: a tree unpacked during the
   * warm-up is moved in whole (once; a handful of renames), else the archive copy is
   * unpacked (also when moving the tree failed). A damaged archive copy is dropped. Null
   * when neither could be used.
   */
  private async fromLocal(entry: CacheEntry, local: LocalCache, dir: string): Promise<number | null> {
    // this worker may be copying the very entry now (an idle refresh the lease let finish)
    await local.settled(entry.sha256, LOCAL_COPY_WAIT_MS);
    const tree = local.unpackedPath(entry.sha256);
    if (existsSync(tree)) {
      this.reads.local++;
      try {
        await moveInto(tree, dir);
        return entry.size;
      } catch {
        // what was moved is this very entry's content: the archive below completes it
      } finally {
        await rm(tree, { recursive: true, force: true });
      }
    }
    const file = local.open(entry.sha256);
    if (!file) return null;
    this.reads.local++;
    try {
      return await this.unpack(entry, file, dir);
    } catch {
      await local.remove(entry.sha256);
      return null;
    }
  }

  /** Streams the entry's object from the store into `dir`. */
  private async fromStore(entry: CacheEntry, dir: string): Promise<number> {
    const data = await this.objects.get(entry.object);
    if (!data) throw new Error(`cache object ${entry.object} is missing`);
    this.reads.store++;
    return this.unpack(entry, data, dir);
  }

  /**
   * Extracts an archive into a staging folder beside `dir`, then moves the files in if
   * the digest matched. Returns the bytes read.
   */
  private async unpack(entry: CacheEntry, archive: Readable, dir: string): Promise<number> {
    const staging = join(dir, `.kiln-cache-${randomUUID()}`);
    try {
      const bytes = await inSpan('cache.extract', {}, () => this.extract(entry, archive, staging));
      await inSpan('cache.move-in', {}, () => moveInto(staging, dir));
      return bytes;
    } finally {
      await inSpan('cache.staging-rm', {}, () => rm(staging, { recursive: true, force: true }));
    }
  }

  /**
   * Streams an archive through a SHA-256 check into `tar -x` in a new folder `into`;
   * throws when the digest (or the store's own check, failing the stream) does not match.
   * Returns the bytes read.
   */
  private async extract(entry: CacheEntry, archive: Readable, into: string, signal?: AbortSignal): Promise<number> {
    await mkdir(into, { recursive: true });
    const meter = sha256Meter();
    const tar = tarExtract(into);
    const guard = stallGuard(this.stallMs, () => `cache object ${entry.object} stopped arriving after ${meter.bytes()} of ${entry.size} bytes for ${this.stallMs} ms (evicted while read?)`);
    await Promise.all([pipeline(archive, guard, meter.stream, tar.child.stdin!, { signal }), tar.done]);
    const digest = meter.digest();
    if (digest !== entry.sha256) throw new Error(`cache entry ${entry.key} is corrupted (sha256 ${digest}, expected ${entry.sha256})`);
    return meter.bytes();
  }

  /**
   * Copies the most used entries of every project into a worker's local cache (the pool
   * warm-up), within the limits (`maxBytes` counts archive bytes). With `unpack`, each is
   * also unpacked there (checked), so the next restore of it is a move rather than an
   * extraction. Copies no longer chosen are dropped. An entry that cannot be copied is
   * reported and skipped; an abort stops the copy in progress and rejects.
   */
  async prefetch(local: LocalCache, limits: PrefetchLimits & { signal?: AbortSignal; unpack?: boolean; stopAfterEntry?: AbortSignal }): Promise<PrefetchResult> {
    const t0 = performance.now();
    const out: PrefetchResult = { copied: 0, held: 0, bytes: 0, seconds: 0, failed: [] };
    const chosen = limits.count > 0 ? choosePrefetch(await this.listAll(), limits) : [];
    for (const entry of chosen) {
      limits.signal?.throwIfAborted();
      // told to stop once the entry in hand is copied: the rest is left for later
      if (limits.stopAfterEntry?.aborted) break;
      try {
        await local.track(
          entry.sha256,
          (async () => {
            if (local.has(entry.sha256)) {
              out.held++;
            } else {
              const data = await this.objects.get(entry.object);
              if (!data) throw new Error(`cache object ${entry.object} is missing`);
              this.reads.store++;
              out.bytes += await local.put(entry.sha256, data, limits.signal);
              out.copied++;
            }
            if (limits.unpack && !existsSync(local.unpackedPath(entry.sha256))) await this.unpackCopy(entry, local, limits.signal);
          })(),
        );
      } catch (e) {
        if (limits.signal?.aborted) throw e;
        out.failed.push({ projectId: entry.projectId, key: entry.key, reason: (e as Error).message });
      }
    }
    if (limits.stopAfterEntry?.aborted) {
      out.seconds = (performance.now() - t0) / 1000;
      return out;
    }
    // the copies follow the choice: what fell out of it (an older archive of a key) goes
    const chosenDigests = new Set(chosen.map((e) => e.sha256));
    for (const held of await local.list()) if (!chosenDigests.has(held.sha256)) await local.drop(held.sha256);
    out.seconds = (performance.now() - t0) / 1000;
    return out;
  }

  /** Unpacks a local archive copy beside it, checked, appearing (by rename) only whole. */
  private async unpackCopy(entry: CacheEntry, local: LocalCache, signal?: AbortSignal): Promise<void> {
    const staging = local.stagingPath();
    try {
      await this.extract(entry, local.open(entry.sha256)!, staging, signal);
      await rename(staging, local.unpackedPath(entry.sha256));
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Saves `paths` (relative to `dir`, the ones that exist) under `key`. */
  async save(projectId: string, key: string, dir: string, paths: string[]): Promise<SaveResult> {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    const present = paths.filter((p) => existsSync(join(dir, p)));
    if (!present.length) return { saved: false, bytes: 0, seconds: seconds(), reason: `none of ${paths.join(', ')} exists` };
    const object = `entry/${randomUUID()}`;
    const tar = tarCreate(dir, present);
    let info: CacheObjectInfo;
    try {
      [info] = await Promise.all([this.objects.put(object, tar.child.stdout!), tar.done]);
    } catch (e) {
      tar.child.kill();
      await this.objects.delete(object).catch(() => undefined);
      throw e;
    }
    const now = new Date().toISOString();
    const entry: CacheEntry = { projectId, key, object, sha256: info.sha256, size: info.size, createdAt: now, lastUsedAt: now, hits: 0 };
    // the pointer moves only now: readers see the old entry or the new one, whole
    await this.pointers.put(this.pointerKey(projectId, key), JSON.stringify(entry));
    return { saved: true, bytes: entry.size, seconds: seconds() };
  }

  /** Removes one entry (pointer first, then its object). */
  async evict(projectId: string, key: string): Promise<boolean> {
    const entry = await this.get(projectId, key);
    if (!entry) return false;
    await this.pointers.delete(this.pointerKey(projectId, key));
    await this.objects.delete(entry.object).catch(() => undefined);
    return true;
  }

  /**
   * Keeps a project's cache within `maxBytes` (least recently used first out) and drops
   * entries unused for `maxAgeMs`; then deletes objects no pointer references any more.
   * Returns the keys evicted.
   */
  async enforceLimits(projectId: string, limits: CacheLimits): Promise<string[]> {
    const now = limits.now ?? Date.now();
    const evicted = await this.evictPastLimits(projectId, await this.list(projectId), limits, now);
    await this.collectOrphans(now);
    return evicted;
  }

  /**
   * The same limits over every project, including those no build saves to any more (an
   * idle or deleted project's entries age out only here). Returns what was evicted.
   */
  async enforceAllLimits(limits: CacheLimits): Promise<{ projectId: string; key: string }[]> {
    const now = limits.now ?? Date.now();
    const byProject = new Map<string, CacheEntry[]>();
    for (const e of await this.listAll()) byProject.set(e.projectId, [...(byProject.get(e.projectId) ?? []), e]);
    const evicted: { projectId: string; key: string }[] = [];
    for (const [projectId, entries] of byProject) {
      for (const key of await this.evictPastLimits(projectId, entries, limits, now)) evicted.push({ projectId, key });
    }
    await this.collectOrphans(now);
    return evicted;
  }

  private async evictPastLimits(projectId: string, entries: CacheEntry[], limits: CacheLimits, now: number): Promise<string[]> {
    const lru = [...entries].sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
    const evicted: string[] = [];
    let total = lru.reduce((n, e) => n + e.size, 0);
    for (const e of lru) {
      const tooOld = now - Date.parse(e.lastUsedAt) > limits.maxAgeMs;
      if (tooOld || total > limits.maxBytes) {
        await this.evict(projectId, e.key);
        total -= e.size;
        evicted.push(e.key);
      }
    }
    return evicted;
  }

  /** Deletes objects that no pointer references, past a grace period. */
  async collectOrphans(now = Date.now()): Promise<number> {
    const referenced = new Set((await this.entries()).map((e) => e.object));
    let n = 0;
    for (const o of await this.objects.list()) {
      if (!referenced.has(o.name) && now - o.mtime > ORPHAN_GRACE_MS) {
        await this.objects.delete(o.name).catch(() => undefined);
        n++;
      }
    }
    return n;
  }
}
