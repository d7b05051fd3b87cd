import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Moves the contents of `from` into `to` (same file system) by renaming, merging folders
 * that exist on both sides and replacing anything else. A restored `node_modules` of
 * thousands of files thus lands with a handful of renames instead of a copy of each file.
 */
export async function moveInto(from: string, to: string): Promise<void> {
  for (const name of await readdir(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const there = await lstat(dst).catch(() => null);
    if (there?.isDirectory() && (await lstat(src)).isDirectory()) {
      await moveInto(src, dst);
      continue;
    }
    if (there) await rm(dst, { recursive: true, force: true });
    await rename(src, dst);
  }
}
