import { readdir, readlink } from 'node:fs/promises';

export interface OpenFiles {
  readonly fileDescriptors: bigint;
  readonly sockets: bigint;
}

/**
 * The open file descriptors of `pids`, and how many of them are sockets,
 * from /proc/<pid>/fd as cAdvisor counts them for container_file_descriptors
 * and container_sockets. A process that exits meanwhile counts as none.
 * One readdir per process and one readlink per descriptor: the cost grows
 * with the descriptors a container holds, which is why the pids are
 * visited one after the other.
 */
export async function readOpenFiles(pids: readonly number[], procRoot = '/proc'): Promise<OpenFiles> {
  let fileDescriptors = 0n;
  let sockets = 0n;
  for (const pid of pids) {
    const dir = `${procRoot}/${pid}/fd`;
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (error) {
      if (isGone(error)) continue;
      throw error;
    }
    const targets = await Promise.all(
      entries.map((entry) => readlink(`${dir}/${entry}`).catch((error: unknown) => (isGone(error) ? null : Promise.reject(error)))),
    );
    for (const target of targets) {
      if (target === null) continue;
      fileDescriptors += 1n;
      if (target.startsWith('socket:')) sockets += 1n;
    }
  }
  return { fileDescriptors, sockets };
}

function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}
