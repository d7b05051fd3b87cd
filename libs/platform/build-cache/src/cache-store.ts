import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KV, NatsConnection, ObjectStore } from 'nats';
import { KilnNames } from '@kiln/contracts';
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

export type RestoreResult =
  | { result: 'hit' | 'partial'; matchedKey: string; bytes: number; seconds: number }
  | { result: 'miss'; matchedKey: null; bytes: 0; seconds: number; reason?: string };

export interface SaveResult {
  saved: boolean;
  bytes: number;
  seconds: number;
  reason?: string;
}

/** Objects no pointer references are deleted once older than this (a reader may still hold one). */
const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * The build cache on NATS: entries are immutable objects in an Object Store bucket, and a
 * KV bucket maps `<project>.<key>` to the entry. A save streams `tar | gzip` into a new
 * object and only then points the key at it, so two builds saving one key at once both
 * succeed (the later pointer wins) and a reader never sees a half-written archive. A
 * restore checks the SHA-256 while it streams and treats a mismatch as a miss.
 */
export class CacheStore {
  private constructor(
    private readonly objects: ObjectStore,
    private readonly pointers: KV,
  ) {}

  static async open(nc: NatsConnection, names: KilnNames, replicas = 1): Promise<CacheStore> {
    const views = nc.jetstream().views;
    const [objects, pointers] = await Promise.all([views.os(names.buckets.cache, { replicas }), views.kv(names.buckets.cacheKeys, { history: 1, replicas })]);
    return new CacheStore(objects, pointers);
  }

  private pointerKey(projectId: string, key: string): string {
    return `${projectId}.${Buffer.from(key).toString('base64url') || '_'}`;
  }

  async get(projectId: string, key: string): Promise<CacheEntry | null> {
    const e = await this.pointers.get(this.pointerKey(projectId, key));
    if (!e || e.operation !== 'PUT' || !e.value.length) return null;
    return e.json<CacheEntry>();
  }

  /** Every entry of a project. */
  async list(projectId: string): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const k of await this.keys(`${projectId}.>`)) {
      const e = await this.pointers.get(k);
      if (e && e.operation === 'PUT' && e.value.length) out.push(e.json<CacheEntry>());
    }
    return out.sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt));
  }

  /** Collects the key listing first: awaiting other KV calls inside its iteration cuts it short. */
  private async keys(filter?: string): Promise<string[]> {
    const all: string[] = [];
    for await (const k of await this.pointers.keys(filter)) all.push(k);
    return all;
  }

  /**
   * Restores `key` into `dir`; when it is missing, the newest entry whose key starts with
   * the first `restoreKeys` prefix that has any (a partial hit).
   */
  async restore(projectId: string, key: string, restoreKeys: string[], dir: string): Promise<RestoreResult> {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    let entry = await this.get(projectId, key);
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
    const staging = join(dir, `.kiln-cache-${randomUUID()}`);
    try {
      await mkdir(staging, { recursive: true });
      const bytes = await this.download(entry, staging);
      await cp(staging, dir, { recursive: true, force: true, verbatimSymlinks: true });
      const now = new Date().toISOString();
      await this.pointers.put(this.pointerKey(projectId, entry.key), JSON.stringify({ ...entry, lastUsedAt: now, hits: entry.hits + 1 }));
      return { result, matchedKey: entry.key, bytes, seconds: seconds() };
    } catch (e) {
      return { result: 'miss', matchedKey: null, bytes: 0, seconds: seconds(), reason: (e as Error).message };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Streams an entry's object through a SHA-256 check into `tar -x`. Returns the bytes read. */
  private async download(entry: CacheEntry, into: string): Promise<number> {
    const obj = await this.objects.get(entry.object);
    if (!obj) throw new Error(`cache object ${entry.object} is missing`);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    const tar = tarExtract(into);
    await Promise.all([pipeline(Readable.fromWeb(obj.data as unknown as WebReadableStream<Uint8Array>), meter, tar.child.stdin!), tar.done]);
    const storeError = await obj.error;
    if (storeError) throw new Error(`cache object ${entry.object} is damaged: ${storeError.message}`);
    const digest = hash.digest('hex');
    if (digest !== entry.sha256) throw new Error(`cache entry ${entry.key} is corrupted (sha256 ${digest}, expected ${entry.sha256})`);
    return bytes;
  }

  /** Saves `paths` (relative to `dir`, the ones that exist) under `key`. */
  async save(projectId: string, key: string, dir: string, paths: string[]): Promise<SaveResult> {
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    const present = paths.filter((p) => existsSync(join(dir, p)));
    if (!present.length) return { saved: false, bytes: 0, seconds: seconds(), reason: `none of ${paths.join(', ')} exists` };
    const object = `entry/${randomUUID()}`;
    const hash = createHash('sha256');
    let bytes = 0;
    const tar = tarCreate(dir, present);
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    const piped = tar.child.stdout!.pipe(meter);
    try {
      await Promise.all([this.objects.put({ name: object }, Readable.toWeb(piped) as unknown as ReadableStream<Uint8Array>), tar.done]);
    } catch (e) {
      await this.objects.delete(object).catch(() => undefined);
      throw e;
    }
    const now = new Date().toISOString();
    const entry: CacheEntry = { projectId, key, object, sha256: hash.digest('hex'), size: bytes, createdAt: now, lastUsedAt: now, hits: 0 };
    // the pointer moves only now: readers see the old entry or the new one, whole
    await this.pointers.put(this.pointerKey(projectId, key), JSON.stringify(entry));
    return { saved: true, bytes, seconds: seconds() };
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
  async enforceLimits(projectId: string, limits: { maxBytes: number; maxAgeMs: number; now?: number }): Promise<string[]> {
    const now = limits.now ?? Date.now();
    const entries = (await this.list(projectId)).sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt));
    const evicted: string[] = [];
    let total = entries.reduce((n, e) => n + e.size, 0);
    for (const e of entries) {
      const tooOld = now - Date.parse(e.lastUsedAt) > limits.maxAgeMs;
      if (tooOld || total > limits.maxBytes) {
        await this.evict(projectId, e.key);
        total -= e.size;
        evicted.push(e.key);
      }
    }
    await this.collectOrphans(now);
    return evicted;
  }

  /** Deletes objects that no pointer references, past a grace period. */
  async collectOrphans(now = Date.now()): Promise<number> {
    const referenced = new Set<string>();
    for (const k of await this.keys()) {
      const e = await this.pointers.get(k);
      if (e && e.operation === 'PUT' && e.value.length) referenced.add(e.json<CacheEntry>().object);
    }
    let n = 0;
    for (const o of await this.objects.list()) {
      if (!o.deleted && !referenced.has(o.name) && now - Date.parse(o.mtime) > ORPHAN_GRACE_MS) {
        await this.objects.delete(o.name).catch(() => undefined);
        n++;
      }
    }
    return n;
  }

  /** Direct access for tests that damage an object on purpose. */
  get objectStore(): ObjectStore {
    return this.objects;
  }
}
