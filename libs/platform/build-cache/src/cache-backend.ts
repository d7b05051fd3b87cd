import type { Readable } from 'node:stream';

/**
 * Where the build cache keeps its bytes and its pointers. `CacheStore` holds every rule
 * (an object is written whole before a key points at it, checksums, eviction, orphan
 * grace, prefetch); a backend only stores. Two exist: the NATS Object Store + KV (the
 * default, shared by every worker) and a local directory (one always-on builder).
 */
export interface CacheBackend {
  readonly objects: CacheObjects;
  readonly pointers: CachePointers;
  /** Asks the storage for its state; a one-line description (throws when it does not answer). */
  status(): Promise<string>;
}

/** What a backend knows of one stored object. */
export interface CacheObjectInfo {
  name: string;
  /** Bytes. */
  size: number;
  /** SHA-256 of the bytes, lower-case hex. */
  sha256: string;
  /** When the object was last written (ms since the epoch). */
  mtime: number;
}

/** A listed object: enough to decide whether it is an orphan past its grace. */
export type CacheObjectListing = Pick<CacheObjectInfo, 'name' | 'size' | 'mtime'>;

/**
 * Immutable blobs (the compressed archives). The cache never writes one name twice; a put
 * of a name that exists replaces it (tests use that to damage an object).
 */
export interface CacheObjects {
  /**
   * Streams `data` into the object `name`, never holding it in memory. The object can be
   * read only once it is whole; on a failure (of `data` or of the store) nothing readable
   * is left under `name` and the promise rejects.
   */
  put(name: string, data: Readable): Promise<CacheObjectInfo>;
  /**
   * The bytes of `name`, streamed; null when there is no such object. The stream errors
   * when the backend finds the object damaged (the caller checks the SHA-256 besides). An
   * object deleted while it is read may end early or stall (see `CacheStoreOptions.stallMs`).
   */
  get(name: string): Promise<Readable | null>;
  /** The object's size and time, or null when there is no such object. */
  info(name: string): Promise<CacheObjectListing | null>;
  /** Deletes `name`; one that is not there is no error. */
  delete(name: string): Promise<void>;
  /**
   * Every object, for orphan collection. A backend may list leftovers of writes that never
   * finished too (with a name `delete` removes and the time of their last byte), so the
   * same grace reclaims them.
   */
  list(): Promise<CacheObjectListing[]>;
}

/** A pointer's current value and the revision a compare-and-set names. */
export interface PointerEntry {
  /** Never empty. */
  value: string;
  /** Changes on every write (put, update, delete) of the key; never reused by the key. */
  revision: number;
}

/**
 * Small mutable values (`<projectId>.<encoded key>` → entry JSON). Keys are NATS-KV-safe
 * tokens separated by `.`.
 */
export interface CachePointers {
  /** The current value, or null when the key was never written or is deleted. */
  get(key: string): Promise<PointerEntry | null>;
  /** Writes `value` whatever the key holds (the last writer wins). Returns the new revision. */
  put(key: string, value: string): Promise<number>;
  /**
   * Writes `value` only if the key's revision is still `revision`; otherwise rejects with
   * a `ConcurrencyError` (from `@kiln/contracts`) and writes nothing. Returns the new revision.
   */
  update(key: string, value: string, revision: number): Promise<number>;
  /** Deletes the key (a later `get` is null); one that is not there is no error. */
  delete(key: string): Promise<void>;
  /**
   * The keys that hold a value, all of them or those starting with `prefix` (which ends in
   * `.`, e.g. `<projectId>.`). Collected whole before it returns.
   */
  keys(prefix?: string): Promise<string[]>;
  /**
   * Calls `onPut` for values written from now on (puts and updates; not deletes, not what
   * was there before). Delivery may be late or coalesce several writes of a key into its
   * last value. Returns a function that stops.
   */
  watch(onPut: (key: string, value: string) => void): Promise<() => void>;
}
