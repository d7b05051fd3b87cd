import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256Meter } from './meter';

const NAME = /^([0-9a-f]{64})\.tar\.gz$/;

/**
 * A worker's own copies of cache archives, filled by the pool warm-up (prefetch). Files
 * are named by the SHA-256 of their bytes, and a file only appears (by rename) once its
 * bytes were checked against that digest, so a copy is either whole and right or absent.
 * A copy may also be held unpacked (`<sha256>.d`, renamed in only after a checked
 * extraction), ready to be moved into a workspace. A restore uses a copy only when the
 * key's current pointer names that digest; an archive copy is checked again while
 * extracting, an unpacked tree is used (moved) once.
 */
export class LocalCache {
  /** Copies being made in this process, by their file path: a restore of one waits for it. */
  private static readonly copying = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {}

  /** Marks `sha256` as being copied here until `work` settles; returns `work`. */
  track<T>(sha256: string, work: Promise<T>): Promise<T> {
    const key = this.path(sha256);
    // settles either way (the caller handles `work`'s failure)
    const done: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    void done.then(() => {
      if (LocalCache.copying.get(key) === done) LocalCache.copying.delete(key);
    });
    LocalCache.copying.set(key, done);
    return work;
  }

  /**
   * Resolves once no copy of `sha256` is being made in this process (at once when none is),
   * or after `ms`: a restore arriving while the copy it needs is being made takes it when
   * done rather than downloading and unpacking the same entry beside it.
   */
  async settled(sha256: string, ms: number): Promise<void> {
    const work = LocalCache.copying.get(this.path(sha256));
    if (!work) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  path(sha256: string): string {
    return join(this.dir, `${sha256}.tar.gz`);
  }

  /** Where the unpacked tree of `sha256` is kept (present only when whole). */
  unpackedPath(sha256: string): string {
    return join(this.dir, `${sha256}.d`);
  }

  /** A fresh name in this cache's folder to build something in before renaming it into place. */
  stagingPath(): string {
    return join(this.dir, `.partial-${randomUUID()}`);
  }

  has(sha256: string): boolean {
    return existsSync(this.path(sha256));
  }

  /** The archive's bytes, or null when this worker holds no copy. */
  open(sha256: string): Readable | null {
    return this.has(sha256) ? createReadStream(this.path(sha256)) : null;
  }

  /**
   * Writes `source` as the copy of `sha256`, checking the digest on the way; a mismatch
   * leaves nothing behind and rejects. Returns the bytes written.
   */
  async put(sha256: string, source: Readable, signal?: AbortSignal): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const tmp = this.stagingPath();
    const meter = sha256Meter();
    try {
      await pipeline(source, meter.stream, createWriteStream(tmp), { signal });
      const digest = meter.digest();
      if (digest !== sha256) throw new Error(`downloaded archive has sha256 ${digest}, expected ${sha256}`);
      await rename(tmp, this.path(sha256));
      return meter.bytes();
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Drops a copy (found damaged). */
  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  /** Drops everything held for `sha256`: the archive and its unpacked tree. */
  async drop(sha256: string): Promise<void> {
    await rm(this.unpackedPath(sha256), { recursive: true, force: true });
    await this.remove(sha256);
  }

  /** The archive copies held, with their sizes. */
  async list(): Promise<{ sha256: string; size: number }[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: { sha256: string; size: number }[] = [];
    for (const n of names) {
      const m = NAME.exec(n);
      if (m) out.push({ sha256: m[1], size: (await stat(join(this.dir, n))).size });
    }
    return out;
  }
}
