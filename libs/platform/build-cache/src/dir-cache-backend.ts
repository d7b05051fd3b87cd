import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, FSWatcher, watch as fsWatch } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConcurrencyError } from '@kiln/contracts';
import type { CacheBackend, CacheObjectInfo, CacheObjectListing, CacheObjects, CachePointers, PointerEntry } from './cache-backend';
import { sha256Meter } from './meter';

/**
 * How long a superseded pointer revision, or a deleted key, is kept (ms). A writer reads
 * the head revision and then links the next one: it must not take longer than this
 * between the two, or it could recreate a revision number already used and removed.
 */
export const DIR_POINTER_GRACE_MS = 5 * 60_000;

/** A watch rescans this often besides on file events, so a missed event is only late. */
const WATCH_RESCAN_MS = 5_000;
/** File events arriving together cause one rescan. */
const WATCH_DEBOUNCE_MS = 20;

const PARTIAL = '.partial-';
const REVISION = /^(\d+)\.json$/;

/** What one pointer revision file holds; `value: null` marks the key deleted. */
interface RevisionDoc {
  key: string;
  value: string | null;
}

/**
 * The build cache in a local directory, for a single always-on builder (the agents on
 * one host and the api beside them). Every step is a rename or a link, so several
 * processes share it safely:
 *
 * ```
 * <root>/objects/<name>              an object, renamed in only once whole
 * <root>/objects/.partial-<uuid>     an object being written
 * <root>/pointers/<key>/<n>.json     revision n of a pointer; the highest one is current
 * <root>/tmp/                        pointer revisions being written, then linked into place
 * ```
 *
 * A write of a pointer reads its highest revision `n` and creates `n+1` with `link`,
 * which fails when another writer created it first: that is the compare-and-set (an
 * unconditional put just reads again and retries). Readers take the highest revision and
 * never see a half-written file. Superseded revisions and deleted keys go once they have
 * been so for `DIR_POINTER_GRACE_MS`. Meant for a local file system (not NFS).
 */
export class DirCacheBackend implements CacheBackend {
  readonly objects: DirObjects;
  readonly pointers: DirPointers;

  private constructor(
    readonly root: string,
    graceMs: number,
  ) {
    this.objects = new DirObjects(join(root, 'objects'));
    this.pointers = new DirPointers(join(root, 'pointers'), join(root, 'tmp'), graceMs);
  }

  /**
   * Opens the directory `root` (absolute), creating it when missing. `graceMs` (default
   * `DIR_POINTER_GRACE_MS`) is for tests.
   */
  static async open(root: string, opts: { graceMs?: number } = {}): Promise<DirCacheBackend> {
    const b = new DirCacheBackend(root, opts.graceMs ?? DIR_POINTER_GRACE_MS);
    await Promise.all(['objects', 'pointers', 'tmp'].map((d) => mkdir(join(root, d), { recursive: true })));
    return b;
  }

  async status(): Promise<string> {
    const [objects, keys] = await Promise.all([this.objects.list(), this.pointers.keys()]);
    return `directory ${this.root}: ${objects.length} objects, ${objects.reduce((n, o) => n + o.size, 0)} bytes; ${keys.length} keys`;
  }
}

/** A file name for any string: percent-encoded, never starting with `.` nor holding `~`. */
function fileName(s: string): string {
  return encodeURIComponent(s).replace(/~/g, '%7E').replace(/^\./, '%2E');
}

const isCode = (e: unknown, code: string) => (e as NodeJS.ErrnoException)?.code === code;

export class DirObjects implements CacheObjects {
  constructor(private readonly dir: string) {}

  /** The file holding `name` (tests damage it on purpose). */
  path(name: string): string {
    const f = name.startsWith(PARTIAL) ? name : fileName(name);
    if (f.length > 240) throw new Error(`cache object name too long: ${name}`);
    return join(this.dir, f);
  }

  async put(name: string, data: Readable): Promise<CacheObjectInfo> {
    const target = this.path(name);
    const partial = join(this.dir, `${PARTIAL}${randomUUID()}`);
    const meter = sha256Meter();
    const out = createWriteStream(partial, { flags: 'wx' });
    try {
      await pipeline(data, meter.stream, out);
      await rename(partial, target);
    } catch (e) {
      // a source that fails at once rejects before the file is even opened: wait until the
      // stream has closed, or the file it then creates would outlive this removal
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()));
      await rm(partial, { force: true });
      throw e;
    }
    const s = await stat(target);
    return { name, size: meter.bytes(), sha256: meter.digest(), mtime: s.mtimeMs };
  }

  async get(name: string): Promise<Readable | null> {
    try {
      return (await open(this.path(name), 'r')).createReadStream();
    } catch (e) {
      if (isCode(e, 'ENOENT')) return null;
      throw e;
    }
  }

  async info(name: string): Promise<CacheObjectListing | null> {
    try {
      const s = await stat(this.path(name));
      return { name, size: s.size, mtime: s.mtimeMs };
    } catch (e) {
      if (isCode(e, 'ENOENT')) return null;
      throw e;
    }
  }

  async delete(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }

  /** The objects, and partial ones (by their file name): one whose writer died is reclaimed like an orphan. */
  async list(): Promise<CacheObjectListing[]> {
    const out: CacheObjectListing[] = [];
    for (const f of await readdir(this.dir)) {
      const s = await stat(join(this.dir, f)).catch(() => null);
      if (s?.isFile()) out.push({ name: f.startsWith(PARTIAL) ? f : decodeURIComponent(f), size: s.size, mtime: s.mtimeMs });
    }
    return out;
  }
}

/** A pointer's highest revision (0: none) and what it holds. */
interface Head {
  revision: number;
  doc: RevisionDoc | null;
}

export class DirPointers implements CachePointers {
  constructor(
    private readonly dir: string,
    private readonly tmp: string,
    private readonly graceMs: number,
  ) {}

  /** The folder of `key`'s revisions; a long key's name is cut and made unique by its hash (the key is in each revision). */
  private keyDir(key: string): string {
    const f = fileName(key);
    return join(this.dir, f.length <= 200 ? f : `${f.slice(0, 150)}~${createHash('sha256').update(key).digest('hex').slice(0, 32)}`);
  }

  /** Revision numbers in `dir`, highest first. */
  private async revisions(dir: string): Promise<number[]> {
    const names = await readdir(dir).catch((e: unknown) => {
      if (isCode(e, 'ENOENT')) return [] as string[];
      throw e;
    });
    return names
      .map((n) => REVISION.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
  }

  private async head(dir: string): Promise<Head> {
    for (;;) {
      const [top] = await this.revisions(dir);
      if (top === undefined) return { revision: 0, doc: null };
      try {
        return { revision: top, doc: JSON.parse(await readFile(join(dir, `${top}.json`), 'utf8')) as RevisionDoc };
      } catch (e) {
        // superseded and removed since the listing: a higher one exists now
        if (!isCode(e, 'ENOENT')) throw e;
      }
    }
  }

  async get(key: string): Promise<PointerEntry | null> {
    const h = await this.head(this.keyDir(key));
    return h.doc?.value ? { value: h.doc.value, revision: h.revision } : null;
  }

  put(key: string, value: string): Promise<number> {
    return this.write(key, value);
  }

  update(key: string, value: string, revision: number): Promise<number> {
    return this.write(key, value, revision);
  }

  async delete(key: string): Promise<void> {
    if (await this.get(key)) await this.write(key, null);
  }

  /**
   * Links a new highest revision of `key` holding `value` (null: deleted). With
   * `expected`, only if the highest one is still that; otherwise retried until it lands.
   */
  private async write(key: string, value: string | null, expected?: number): Promise<number> {
    const dir = this.keyDir(key);
    const file = join(this.tmp, randomUUID());
    await writeFile(file, JSON.stringify({ key, value } satisfies RevisionDoc), { flag: 'wx' });
    try {
      for (;;) {
        const { revision } = await this.head(dir);
        if (expected !== undefined && revision !== expected) throw new ConcurrencyError(`cache pointer ${key} is at revision ${revision}, not ${expected}`);
        const next = revision + 1;
        try {
          await mkdir(dir, { recursive: true });
          await link(file, join(dir, `${next}.json`));
        } catch (e) {
          // EEXIST: another writer took `next`; ENOENT: the deleted key's folder was just removed
          if (!isCode(e, 'EEXIST') && !isCode(e, 'ENOENT')) throw e;
          if (expected !== undefined && isCode(e, 'EEXIST')) throw new ConcurrencyError(`cache pointer ${key} changed since revision ${expected}`, { cause: e });
          continue;
        }
        await this.dropSuperseded(dir);
        return next;
      }
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Removes revisions that were superseded longer than the grace ago (never the highest). */
  private async dropSuperseded(dir: string, now = Date.now()): Promise<void> {
    const revs = await this.revisions(dir);
    for (let i = 1; i < revs.length; i++) {
      const successor = await stat(join(dir, `${revs[i - 1]}.json`)).catch(() => null);
      if (successor && now - successor.mtimeMs > this.graceMs) await rm(join(dir, `${revs[i]}.json`), { force: true });
    }
  }

  /** The keys holding a value; a key deleted longer than the grace ago is removed on the way. */
  async keys(prefix?: string): Promise<string[]> {
    if (prefix !== undefined && !prefix.endsWith('.')) throw new Error(`a pointer key prefix ends in ".": "${prefix}"`);
    const encoded = prefix === undefined ? '' : fileName(prefix);
    const out: string[] = [];
    for (const f of await readdir(this.dir)) {
      if (encoded.length <= 150 && !f.startsWith(encoded)) continue;
      const dir = join(this.dir, f);
      const h = await this.head(dir);
      if (h.doc?.value) {
        if (prefix === undefined || h.doc.key.startsWith(prefix)) out.push(h.doc.key);
      } else if (h.doc) {
        await this.pruneDeleted(dir, h.revision);
      }
    }
    return out;
  }

  /**
   * Removes a key deleted (at revision `deletedAt`) longer than the grace ago: its files up
   * to that revision, then the folder, which fails harmlessly when a writer added one since.
   */
  private async pruneDeleted(dir: string, deletedAt: number, now = Date.now()): Promise<void> {
    const tombstone = await stat(join(dir, `${deletedAt}.json`)).catch(() => null);
    if (!tombstone || now - tombstone.mtimeMs <= this.graceMs) return;
    for (const r of (await this.revisions(dir)).filter((r) => r <= deletedAt).reverse()) await rm(join(dir, `${r}.json`), { force: true });
    await rmdir(dir).catch(() => undefined);
  }

  async watch(onPut: (key: string, value: string) => void): Promise<() => void> {
    const seen = new Map<string, number>();
    let stopped = false;
    let running: Promise<void> | null = null;
    let again = false;
    let timer: NodeJS.Timeout | null = null;
    const scan = async (report: boolean) => {
      for (const f of await readdir(this.dir)) {
        const dir = join(this.dir, f);
        const [top = 0] = await this.revisions(dir);
        const before = seen.get(f) ?? 0;
        seen.set(f, top);
        if (!report || top <= before || stopped) continue;
        const h = await this.head(dir);
        if (h.doc?.value) onPut(h.doc.key, h.doc.value);
      }
    };
    const rescan = () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = scan(true)
        .catch(() => undefined) // the next event or rescan tries again
        .finally(() => {
          running = null;
          if (again) {
            again = false;
            rescan();
          }
        });
    };
    const soon = () => {
      if (timer || stopped) return;
      timer = setTimeout(() => {
        timer = null;
        rescan();
      }, WATCH_DEBOUNCE_MS);
    };
    await scan(false);
    let watcher: FSWatcher | null = null;
    try {
      watcher = fsWatch(this.dir, { recursive: true }, soon);
      watcher.on('error', () => watcher?.close()); // the periodic rescan carries on
    } catch {
      // no file events here: the periodic rescan alone
    }
    const interval = setInterval(rescan, WATCH_RESCAN_MS);
    interval.unref();
    return () => {
      stopped = true;
      watcher?.close();
      clearInterval(interval);
      if (timer) clearTimeout(timer);
    };
  }
}
