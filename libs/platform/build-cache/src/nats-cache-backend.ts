import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { KV, KvWatchInclude, NatsConnection, ObjectInfo, ObjectStore } from 'nats';
import { ConcurrencyError, KilnNames } from '@kiln/contracts';
import { isWrongLastSequence } from '@kiln/event-store';
import type { CacheBackend, CacheObjectInfo, CacheObjectListing, CacheObjects, CachePointers, PointerEntry } from './cache-backend';

/**
 * The default backend, shared by every worker: objects in a JetStream Object Store bucket
 * (`names.buckets.cache`), pointers in a KV bucket (`names.buckets.cacheKeys`, history 1),
 * compare-and-set by the KV revision.
 */
export class NatsCacheBackend implements CacheBackend {
  readonly objects: CacheObjects;
  readonly pointers: CachePointers;

  private constructor(
    private readonly os: ObjectStore,
    private readonly kv: KV,
  ) {
    this.objects = new NatsObjects(os);
    this.pointers = new NatsPointers(kv);
  }

  /** Opens (creating when missing) both buckets. */
  static async open(nc: NatsConnection, names: KilnNames, replicas = 1): Promise<NatsCacheBackend> {
    const views = nc.jetstream().views;
    const [os, kv] = await Promise.all([views.os(names.buckets.cache, { replicas }), views.kv(names.buckets.cacheKeys, { history: 1, replicas })]);
    return new NatsCacheBackend(os, kv);
  }

  async status(): Promise<string> {
    const [o, k] = await Promise.all([this.os.status(), this.kv.status()]);
    return `object store ${o.bucket}: ${o.size} bytes; keys ${k.bucket}: ${k.values} entries`;
  }
}

/** `SHA-256=<base64url>` (the Object Store's digest) as hex. */
function hexDigest(digest: string): string {
  return Buffer.from(digest.replace(/^SHA-256=/, ''), 'base64url').toString('hex');
}

function infoOf(o: ObjectInfo): CacheObjectInfo {
  return { name: o.name, size: o.size, sha256: hexDigest(o.digest), mtime: Date.parse(o.mtime) };
}

class NatsObjects implements CacheObjects {
  constructor(private readonly os: ObjectStore) {}

  async put(name: string, data: Readable): Promise<CacheObjectInfo> {
    try {
      return infoOf(await this.os.put({ name }, Readable.toWeb(data) as unknown as ReadableStream<Uint8Array>));
    } catch (e) {
      await this.os.delete(name).catch(() => undefined);
      throw e;
    }
  }

  async get(name: string): Promise<Readable | null> {
    const obj = await this.os.get(name);
    if (!obj) return null;
    const data = Readable.fromWeb(obj.data as unknown as WebReadableStream<Uint8Array>);
    // the client reports a digest mismatch on the stream itself; `error` is its echo
    obj.error.then(
      (e) => e && data.destroy(new Error(`cache object ${name} is damaged: ${e.message}`)),
      (e: Error) => data.destroy(new Error(`cache object ${name} is damaged: ${e.message}`)),
    );
    return data;
  }

  async info(name: string): Promise<CacheObjectListing | null> {
    const o = await this.os.info(name);
    return o && !o.deleted ? { name: o.name, size: o.size, mtime: Date.parse(o.mtime) } : null;
  }

  async delete(name: string): Promise<void> {
    await this.os.delete(name).catch(() => undefined);
  }

  async list(): Promise<CacheObjectListing[]> {
    return (await this.os.list()).filter((o) => !o.deleted).map((o) => ({ name: o.name, size: o.size, mtime: Date.parse(o.mtime) }));
  }
}

class NatsPointers implements CachePointers {
  constructor(private readonly kv: KV) {}

  async get(key: string): Promise<PointerEntry | null> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || !e.value.length) return null;
    return { value: e.string(), revision: e.revision };
  }

  put(key: string, value: string): Promise<number> {
    return this.kv.put(key, value);
  }

  async update(key: string, value: string, revision: number): Promise<number> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (e) {
      if (isWrongLastSequence(e)) throw new ConcurrencyError(`cache pointer ${key} changed since revision ${revision}`, { cause: e });
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /** Collects the listing first: awaiting other KV calls inside its iteration cuts it short. */
  async keys(prefix?: string): Promise<string[]> {
    if (prefix !== undefined && !prefix.endsWith('.')) throw new Error(`a pointer key prefix ends in ".": "${prefix}"`);
    const all: string[] = [];
    for await (const k of await this.kv.keys(prefix === undefined ? undefined : `${prefix}>`)) all.push(k);
    return all;
  }

  async watch(onPut: (key: string, value: string) => void): Promise<() => void> {
    const updates = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly, ignoreDeletes: true });
    void (async () => {
      for await (const e of updates) if (e.operation === 'PUT' && e.value.length) onPut(e.key, e.string());
    })();
    return () => updates.stop();
  }
}
