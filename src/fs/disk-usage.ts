import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export interface DiskUsage {
  readonly bytes: number;
  readonly inodes: number;
}

/**
 * Allocated bytes and inode count below `dir`, counting hard links once.
 * Every lstat and readdir is its own async call, so a big tree never holds
 * the event loop. An entry that disappears during the walk (a running
 * container deleting a file from its writable layer) is not counted; only
 * `dir` itself must exist.
 */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  const seen = new Set<number>();
  let bytes = 0;
  const visit = async (entry: string, isRoot: boolean): Promise<void> => {
    let stats;
    let children: string[] = [];
    try {
      stats = await lstat(entry);
      if (seen.has(stats.ino)) return;
      if (stats.isDirectory()) children = await readdir(entry);
    } catch (error) {
      if (!isRoot && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    seen.add(stats.ino);
    bytes += stats.blocks * 512;
    for (const child of children) await visit(path.join(entry, child), false);
  };
  await visit(dir, true);
  return { bytes, inodes: seen.size };
}
