import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { replaceFile } from '../fs/atomic-write.js';
import type { Logger } from '../log/logger.js';
import { matchIdPrefix } from './id-prefix.js';

/**
 * Records of pods and containers: one directory per object under `dir`,
 * its record in `<id>/<file>` replaced in one rename, so after a crash or
 * a kill -9 of the daemon, which the containers outlive, it rebuilds its
 * view from what is on disk. The directory also holds whatever else
 * belongs to the object, so removing it removes everything at once.
 *
 * Records are not fsynced: the pods and containers they describe do not
 * survive a power loss or a kernel crash, the only failures that lose page
 * cache. A record lost then leaves an older state of an object that is
 * dead anyway, or a directory without a readable record, which `open`
 * removes. The fsyncs cost RunPodSandbox, CreateContainer and
 * StartContainer milliseconds each (CRI-O's transient store makes the same
 * trade).
 */
export class RecordStore<T extends { readonly id: string }> {
  private readonly records = new Map<string, T>();

  private constructor(
    readonly dir: string,
    private readonly file: string,
  ) {}

  static async open<T extends { readonly id: string }>(dir: string, file: string, log: Logger): Promise<RecordStore<T>> {
    const store = new RecordStore<T>(dir, file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) {
      if (name.startsWith('.')) {
        // A removal that a crash interrupted after its rename.
        await rm(path.join(dir, name), { recursive: true, force: true });
        continue;
      }
      try {
        const record = JSON.parse(await readFile(path.join(dir, name, file), 'utf8')) as T;
        store.records.set(record.id, record);
      } catch (error) {
        // No record: a create that died before its first save; nothing references the directory.
        log.warn({ dir: path.join(dir, name), err: error }, 'removing a directory without a readable record');
        await rm(path.join(dir, name), { recursive: true, force: true });
      }
    }
    return store;
  }

  get(id: string): T | undefined {
    return this.records.get(id);
  }

  /** By full ID or a prefix that names exactly one record, as crictl users type IDs. */
  find(idOrPrefix: string): T | undefined {
    const match = matchIdPrefix(idOrPrefix, this.records.keys());
    return match.kind === 'unique' ? this.records.get(match.id) : undefined;
  }

  list(): T[] {
    return [...this.records.values()];
  }

  dirOf(id: string): string {
    return path.join(this.dir, id);
  }

  async save(record: T): Promise<void> {
    await mkdir(this.dirOf(record.id), { recursive: true, mode: 0o700 });
    await replaceFile(path.join(this.dirOf(record.id), this.file), JSON.stringify(record));
    this.records.set(record.id, record);
  }

  /** Forgets the record and deletes its directory; renaming first keeps a half-deleted one from loading. */
  async remove(id: string): Promise<void> {
    this.records.delete(id);
    const doomed = path.join(this.dir, `.removed-${id}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.dirOf(id), doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(doomed, { recursive: true, force: true });
  }
}
