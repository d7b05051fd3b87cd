import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GitObjectReader } from './object-reader';

/** Why a tree was left to `git read-tree`: the caller falls back to it, which handles every case. */
export class NeedsGitCheckout extends Error {
  constructor(reason: string) {
    super(`checked out by git instead: ${reason}`);
    this.name = 'NeedsGitCheckout';
  }
}

/** One file of the checked-out tree, for the index. */
interface Entry {
  path: Buffer;
  mode: number;
  oid: Buffer;
  /** Where it was written (null for a submodule, which gets an empty folder and no stat data). */
  file: string | null;
}

const MODE_TREE = 0o40000;
const MODE_FILE = 0o100644;
const MODE_EXEC = 0o100755;
const MODE_LINK = 0o120000;
const MODE_GITLINK = 0o160000;
/**
 * Blob reads and writes in flight at once: enough to keep the reader's pipe full, few
 * enough to bound memory (with the reader's largest object kept, 8 MiB: at most 128 MiB).
 */
const IN_FLIGHT = 16;
/**
 * A checkout's first files (up to this many, each up to {@link SYNC_MAX_BYTES}) and its
 * folders are written with synchronous calls, and a tree this small gets its index the same
 * way: tens of microseconds each, where an async write is three trips through the thread
 * pool, each waiting its turn on an event loop busy starting the build (13 ms at p50 for two
 * files in the bench). Beyond that the writes go async, so a large tree never holds the
 * loop for long.
 */
const SYNC_FILES = 64;
const SYNC_MAX_BYTES = 64 * 1024;

/**
 * Writes the tree of `commit` into `dir` (whose `.git` borrows the objects `reader` reads)
 * and the index `git read-tree --reset -u` would write, without spawning a process: the
 * files' stat data is in the index, so `git status` there is clean at once.
 *
 * It does what read-tree does for plain trees only. A tree that needs more (any
 * `.gitattributes`, whose filters and line endings only git applies; a SHA-256 repository;
 * a name git would refuse) rejects with {@link NeedsGitCheckout}, and the caller runs git.
 */
export async function checkoutTree(reader: GitObjectReader, commit: string, dir: string, signal?: AbortSignal): Promise<void> {
  const root = await reader.read(`${commit}^{tree}`);
  if (!root || root.type !== 'tree') throw new Error(`commit ${commit} has no tree in the repository`);
  if (!root.content) throw new NeedsGitCheckout(`its root tree is larger than the reader keeps (${root.size} bytes)`);
  if (root.oid.length !== 40) throw new NeedsGitCheckout('not a SHA-1 repository');
  const entries: Entry[] = [];
  const writes: Promise<void>[] = [];
  let inFlight = 0;
  let syncLeft = SYNC_FILES;
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (inFlight >= IN_FLIGHT) await new Promise<void>((r) => waiting.push(r));
    inFlight++;
  };
  const release = () => {
    inFlight--;
    waiting.shift()?.();
  };

  const walk = async (tree: Buffer, prefix: string, folder: string): Promise<void> => {
    const subtrees: Promise<void>[] = [];
    let error: unknown = null;
    try {
      for (const e of parseTree(tree)) {
        if (signal?.aborted) throw new Error('checkout aborted');
        const rel = prefix + e.name;
        const file = join(folder, e.name);
        if (e.mode === MODE_TREE) {
          subtrees.push(
            (async () => {
              const sub = await reader.read(e.oid.toString('hex'));
              if (!sub || sub.type !== 'tree') throw new Error(`tree ${e.oid.toString('hex')} (${rel}) is missing`);
              if (!sub.content) throw new NeedsGitCheckout(`tree ${rel} is larger than the reader keeps (${sub.size} bytes)`);
              if (syncLeft > 0) mkdirSync(file);
              else await mkdir(file);
              await walk(sub.content, `${rel}/`, file);
            })(),
          );
        } else if (e.mode === MODE_GITLINK) {
          // a submodule: an empty folder, as read-tree leaves it
          entries.push({ path: Buffer.from(rel), mode: MODE_GITLINK, oid: e.oid, file: null });
          writes.push(mkdir(file).then(() => undefined));
        } else {
          const mode = e.mode === MODE_LINK ? MODE_LINK : e.mode & 0o111 ? MODE_EXEC : MODE_FILE;
          entries.push({ path: Buffer.from(rel), mode, oid: e.oid, file });
          await slot();
          writes.push(
            reader
              .read(e.oid.toString('hex'))
              .then(async (blob) => {
                if (!blob || blob.type !== 'blob') throw new Error(`blob ${e.oid.toString('hex')} (${rel}) is missing`);
                // a large file is left to git, which streams it
                if (!blob.content) throw new NeedsGitCheckout(`${rel} is larger than the reader keeps (${blob.size} bytes)`);
                const options = { mode: mode === MODE_EXEC ? 0o777 : 0o666 };
                if (syncLeft > 0 && blob.content.length <= SYNC_MAX_BYTES) {
                  syncLeft--;
                  if (mode === MODE_LINK) symlinkSync(blob.content.toString('utf8'), file);
                  else writeFileSync(file, blob.content, options);
                } else if (mode === MODE_LINK) await symlink(blob.content.toString('utf8'), file);
                else await writeFile(file, blob.content, options);
              })
              .finally(release),
          );
        }
      }
    } catch (e) {
      error = e;
    }
    // every nested walk has ended (and so started all its writes) before this one settles
    await settleAll(subtrees, error);
  };
  let error: unknown = null;
  await walk(root.content, '', dir).catch((e: unknown) => (error = e));
  // every write started settles before this returns (or rejects): no file lands after a fallback cleared the folder
  await settleAll(writes, error);
  const small = entries.length <= SYNC_FILES;
  const index = await indexOf(entries, small);
  if (small) writeFileSync(join(dir, '.git', 'index'), index);
  else await writeFile(join(dir, '.git', 'index'), index);
}

/** Waits for every promise to settle, then rejects with `error` if there is one, else with the first rejection. */
async function settleAll(promises: Promise<unknown>[], error: unknown): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (error !== null) throw error;
  if (failed) throw failed.reason;
}

/** Entries of a tree object (SHA-1): `<octal mode> <name>\0<20-byte id>`, refusing names git would refuse. */
function* parseTree(tree: Buffer): Generator<{ mode: number; name: string; oid: Buffer }> {
  let i = 0;
  while (i < tree.length) {
    const sp = tree.indexOf(0x20, i);
    const nul = tree.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 21 > tree.length) throw new Error('malformed tree object');
    const mode = parseInt(tree.toString('latin1', i, sp), 8);
    const name = tree.toString('utf8', sp + 1, nul);
    if (name === '' || name === '.' || name === '..' || name.toLowerCase() === '.git' || name.includes('/') || name.includes('\\')) {
      throw new NeedsGitCheckout(`a path named '${name}'`);
    }
    if (name === '.gitattributes') throw new NeedsGitCheckout('the tree has a .gitattributes file');
    yield { mode, name, oid: tree.subarray(nul + 1, nul + 21) };
    i = nul + 21;
  }
}

/** A version 2 index of `entries` (sorted by path bytes, as git sorts), with each file's stat data. */
async function indexOf(entries: Entry[], statSync: boolean): Promise<Buffer> {
  entries.sort((a, b) => Buffer.compare(a.path, b.path));
  const stats = statSync
    ? entries.map((e) => (e.file ? lstatSync(e.file, { bigint: true }) : null))
    : await Promise.all(entries.map((e) => (e.file ? lstat(e.file, { bigint: true }) : null)));
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.write('DIRC', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(entries.length, 8);
  parts.push(header);
  const u32 = (v: bigint) => Number(BigInt.asUintN(32, v));
  entries.forEach((e, k) => {
    const s = stats[k];
    // fixed part (62 bytes), the path, then 1–8 NULs to a multiple of 8
    const len = Math.ceil((62 + e.path.length + 1) / 8) * 8;
    const b = Buffer.alloc(len);
    if (s) {
      b.writeUInt32BE(u32(s.ctimeNs / 1_000_000_000n), 0);
      b.writeUInt32BE(u32(s.ctimeNs % 1_000_000_000n), 4);
      b.writeUInt32BE(u32(s.mtimeNs / 1_000_000_000n), 8);
      b.writeUInt32BE(u32(s.mtimeNs % 1_000_000_000n), 12);
      b.writeUInt32BE(u32(s.dev), 16);
      b.writeUInt32BE(u32(s.ino), 20);
      b.writeUInt32BE(u32(s.uid), 28);
      b.writeUInt32BE(u32(s.gid), 32);
      b.writeUInt32BE(u32(s.size), 36);
    }
    b.writeUInt32BE(e.mode, 24);
    e.oid.copy(b, 40);
    b.writeUInt16BE(Math.min(e.path.length, 0xfff), 60);
    e.path.copy(b, 62);
    parts.push(b);
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}
