import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` so that a reader, or the next start after a crash, sees
 * either the old content or the new, never a torn write: write a sibling,
 * fsync it, rename it over, fsync the directory so the rename is durable.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await replace(file, data, mode, true);
  await syncDirectory(path.dirname(file));
}

/**
 * Replaces `file` in one rename, so that a reader, the daemon restarted
 * after a crash of its own included, sees the old content or the new; but
 * without the fsyncs, which cost milliseconds each: for state that a power
 * loss makes moot anyway, whose loss then leaves the older version or none.
 */
export async function replaceFile(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await replace(file, data, mode, false);
}

async function replace(file: string, data: string | Uint8Array, mode: number, sync: boolean): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data);
      if (sync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Makes a rename or create in `dir` survive a power loss. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
