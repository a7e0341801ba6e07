import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, mkdtemp, open, rename, rm, rmdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { confinedPath, display } from './entry-path.js';
import { makeNode, setXattrs, type DeviceNode } from './host-tools.js';
import { LayerUnpackError } from './layer-unpack-error.js';
import { OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, whiteoutOf } from './overlay-whiteout.js';
import type { ByteString, TarHeader, TarTimestamp } from './tar-reader.js';

/**
 * Applies tar entries under a destination directory, confined to it.
 *
 * Confinement: names are confined by `confinedPath`; every parent of an
 * entry is checked with lstat to be a real directory (a symlink there is a
 * `path-escape`, any other file a `corrupt` layer), and entries are created
 * exclusively (O_EXCL, mkdir, symlink, link), which follows no symlink,
 * after removing whatever was there; device nodes are renamed onto a path
 * cleared for them when they were read. Parents
 * already checked are remembered, and forgotten when an entry replaces them,
 * so a deep tree costs one lstat per directory, not per entry.
 *
 * Metadata: owner, then mode (chown clears setuid and setgid), then times;
 * symlinks get no chmod, hard links nothing (they share the target's inode).
 * Some work waits for `finish()`: directory times (writing into a directory
 * changes its mtime), device nodes and FIFOs (each costs a `mknod` process,
 * so they are made in parallel at the end), and xattrs (one `setfattr` for
 * the layer, after every chown, which would clear `security.capability`).
 * Pending work for a path is dropped when a later entry replaces the path.
 *
 * Paths are byte strings relative to the destination, '' being the
 * destination itself.
 */

interface PendingNode extends DeviceNode {
  mode: number;
  uid: number;
  gid: number;
  /** Null for whiteouts, which keep the time they were made, as in containerd. */
  mtime: TarTimestamp | null;
}

const EXCLUSIVE_CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Processes and syscalls in flight at once when finishing. */
const FINISH_CONCURRENCY = 16;
const IMPLICIT_DIR_MODE = 0o755;

export class LayerWriter {
  readonly #root: string;
  readonly #rootBytes: ByteString;
  readonly #signal: AbortSignal | undefined;
  /** Checked real directories; an entry here implies all its ancestors are too. */
  readonly #directories = new Set<ByteString>(['']);
  readonly #directoryTimes = new Map<ByteString, TarTimestamp>();
  readonly #nodes = new Map<ByteString, PendingNode>();
  readonly #xattrs = new Map<ByteString, Map<ByteString, Buffer>>();

  constructor(destination: string, signal?: AbortSignal) {
    this.#root = path.resolve(destination);
    this.#rootBytes = Buffer.from(this.#root).toString('latin1');
    this.#signal = signal;
  }

  async apply(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const entryPath = confinedPath(header.path, 'entry');
    const whiteout = whiteoutOf(entryPath);
    switch (whiteout.kind) {
      case 'skip':
        return;
      case 'opaque':
        await this.#parents(entryPath);
        this.#addXattrs(whiteout.directory, new Map([[OPAQUE_XATTR, Buffer.from('y')]]));
        return;
      case 'delete':
        await this.#parents(whiteout.path);
        await this.#clear(whiteout.path);
        this.#nodes.set(whiteout.path, { kind: 'char', major: 0, minor: 0, mode: 0, uid: header.uid, gid: header.gid, mtime: null });
        return;
    }
    // The destination's own attributes belong to the snapshot, not the layer (as in containerd).
    if (entryPath === '') return;
    switch (header.type) {
      case 'dir':
        await this.#directory(entryPath, header);
        break;
      case 'file':
        await this.#file(entryPath, header, body);
        break;
      case 'symlink':
        await this.#symlink(entryPath, header);
        break;
      case 'hardlink':
        await this.#hardLink(entryPath, header);
        return;
      case 'char':
      case 'block':
      case 'fifo':
        await this.#parents(entryPath);
        await this.#clear(entryPath);
        this.#nodes.set(entryPath, {
          kind: header.type,
          major: header.devMajor,
          minor: header.devMinor,
          mode: header.mode,
          uid: header.uid,
          gid: header.gid,
          mtime: header.mtime,
        });
        break;
    }
    const xattrs = [...header.xattrs].filter(([name]) => !name.startsWith(OVERLAY_XATTR_PREFIX));
    if (xattrs.length > 0) this.#addXattrs(entryPath, new Map(xattrs));
  }

  /** The deferred work; the tree is complete when it resolves. */
  async finish(): Promise<void> {
    await this.#makeNodes();
    await setXattrs(
      [...this.#xattrs].map(([entryPath, xattrs]) => [this.#bytes(entryPath), xattrs]),
      this.#signal,
    );
    await inParallel([...this.#directoryTimes], async ([entryPath, mtime]) => {
      await lutimes(this.#bytes(entryPath), fsTime(mtime), fsTime(mtime));
    });
  }

  async #directory(entryPath: ByteString, header: TarHeader): Promise<void> {
    const target = this.#bytes(entryPath);
    await this.#parents(entryPath);
    this.#dropNode(entryPath);
    const made = await mkdir(target, 0o700).then(
      () => true,
      (error: unknown) => {
        if (errorCode(error) === 'EEXIST') return false;
        throw error;
      },
    );
    // An existing directory is merged into, as tar does; anything else is replaced.
    if (!made && !(await lstat(target)).isDirectory()) {
      await this.#clear(entryPath);
      await mkdir(target, 0o700);
    }
    await lchown(target, header.uid, header.gid);
    await chmod(target, header.mode);
    this.#directories.add(entryPath);
    this.#directoryTimes.set(entryPath, header.mtime);
  }

  async #file(entryPath: ByteString, header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const handle = await this.#create(entryPath, (target) => open(target, EXCLUSIVE_CREATE, 0o600));
    try {
      for await (const piece of body) {
        for (let written = 0; written < piece.length;) {
          written += (await handle.write(piece, written, piece.length - written)).bytesWritten;
        }
      }
      await handle.chown(header.uid, header.gid);
      await handle.chmod(header.mode);
      await handle.utimes(fsTime(header.mtime), fsTime(header.mtime));
    } finally {
      await handle.close();
    }
  }

  async #symlink(entryPath: ByteString, header: TarHeader): Promise<void> {
    if (header.linkPath === '' || header.linkPath.includes('\0')) {
      throw new LayerUnpackError('corrupt', `symlink ${display(entryPath)} has an empty or NUL-holding target`);
    }
    await this.#create(entryPath, (target) => symlink(Buffer.from(header.linkPath, 'latin1'), target));
    const target = this.#bytes(entryPath);
    await lchown(target, header.uid, header.gid);
    await lutimes(target, fsTime(header.mtime), fsTime(header.mtime));
  }

  async #hardLink(entryPath: ByteString, header: TarHeader): Promise<void> {
    const targetPath = confinedPath(header.linkPath, 'hard link target');
    if (targetPath === entryPath) throw new LayerUnpackError('corrupt', `hard link ${display(entryPath)} links to itself`);
    if (this.#nodes.has(targetPath)) await this.#makeNodes();
    await this.#parents(targetPath, false);
    const target = this.#bytes(targetPath);
    const stats = await lstat(target).catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    });
    if (stats === null || stats.isDirectory()) {
      throw new LayerUnpackError('corrupt', `hard link ${display(entryPath)} -> ${display(targetPath)}: no such file in the layer`);
    }
    // link(2) links a symlink itself, never what it points to.
    await this.#create(entryPath, (created) => link(target, created));
  }

  /**
   * Runs `make` on the entry's absolute path after its parents are checked;
   * if something is in the way, removes it and runs `make` once more.
   * `make` must fail with EEXIST rather than replace or follow anything.
   */
  async #create<T>(entryPath: ByteString, make: (target: Buffer) => Promise<T>): Promise<T> {
    await this.#parents(entryPath);
    this.#dropNode(entryPath);
    const target = this.#bytes(entryPath);
    try {
      return await make(target);
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      await this.#clear(entryPath);
      return await make(target);
    }
  }

  /**
   * Checks, from the top down, that every parent of the entry is a real
   * directory, and creates missing ones (0755, root-owned) if `create`.
   */
  async #parents(entryPath: ByteString, create = true): Promise<void> {
    const parent = entryPath.slice(0, Math.max(0, entryPath.lastIndexOf('/')));
    if (this.#directories.has(parent)) return;
    let end = -1;
    do {
      end = entryPath.indexOf('/', end + 1);
      const ancestor = entryPath.slice(0, end);
      if (this.#directories.has(ancestor)) continue;
      if (this.#nodes.has(ancestor)) throw notADirectory(entryPath, ancestor, false);
      const target = this.#bytes(ancestor);
      const stats = await lstat(target).catch((error: unknown) => {
        if (errorCode(error) === 'ENOENT') return null;
        throw error;
      });
      if (stats === null) {
        if (!create) throw new LayerUnpackError('corrupt', `${display(entryPath)}: ${display(ancestor)} is not in the layer`);
        await mkdir(target, IMPLICIT_DIR_MODE);
        await lchown(target, 0, 0);
        await chmod(target, IMPLICIT_DIR_MODE);
      } else if (!stats.isDirectory()) {
        throw notADirectory(entryPath, ancestor, stats.isSymbolicLink());
      }
      this.#directories.add(ancestor);
    } while (end !== entryPath.lastIndexOf('/'));
  }

  /** Removes whatever is at the path, and everything pending for it and below it. */
  async #clear(entryPath: ByteString): Promise<void> {
    await rm(this.#bytes(entryPath), { recursive: true, force: true });
    const below = `${entryPath}/`;
    const under = (key: ByteString): boolean => key === entryPath || key.startsWith(below);
    for (const map of [this.#directoryTimes, this.#xattrs, this.#nodes]) {
      for (const key of map.keys()) if (under(key)) map.delete(key);
    }
    for (const key of this.#directories) if (under(key)) this.#directories.delete(key);
  }

  #dropNode(entryPath: ByteString): void {
    if (this.#nodes.delete(entryPath)) this.#xattrs.delete(entryPath);
  }

  #addXattrs(entryPath: ByteString, xattrs: ReadonlyMap<ByteString, Buffer>): void {
    const existing = this.#xattrs.get(entryPath);
    if (existing === undefined) this.#xattrs.set(entryPath, new Map(xattrs));
    else for (const [name, value] of xattrs) existing.set(name, value);
  }

  /**
   * mknod cannot take a name that is not UTF-8 (process arguments are
   * strings), so each node is made under a plain name in a staging
   * directory and renamed into place.
   */
  async #makeNodes(): Promise<void> {
    if (this.#nodes.size === 0) return;
    const nodes = [...this.#nodes];
    this.#nodes.clear();
    const staging = await mkdtemp(path.join(this.#root, '.crion-nodes-'));
    await inParallel(nodes.entries(), async ([index, [entryPath, node]]) => {
      const temporary = path.join(staging, String(index));
      const target = this.#bytes(entryPath);
      await makeNode(temporary, node, this.#signal);
      await rename(temporary, target);
      await lchown(target, node.uid, node.gid);
      await chmod(target, node.mode);
      if (node.mtime !== null) await lutimes(target, fsTime(node.mtime), fsTime(node.mtime));
    });
    await rmdir(staging);
  }

  #bytes(entryPath: ByteString): Buffer {
    return Buffer.from(entryPath === '' ? this.#rootBytes : `${this.#rootBytes}/${entryPath}`, 'latin1');
  }
}

/**
 * Runs `work` on every item, at most FINISH_CONCURRENCY at a time. After a
 * failure no new item starts, and it rejects only once the running ones
 * have settled, so nothing touches the tree after the caller hears of it.
 */
async function inParallel<T>(items: Iterable<T>, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    for (let next = iterator.next(); next.done !== true && failure === undefined; next = iterator.next()) {
      try {
        await work(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: FINISH_CONCURRENCY }, worker));
  if (failure !== undefined) throw failure.error;
}

/** A symlink on the way is an escape attempt; anything else a malformed layer. */
function notADirectory(entryPath: ByteString, ancestor: ByteString, symlink: boolean): LayerUnpackError {
  return symlink
    ? new LayerUnpackError('path-escape', `${display(entryPath)}: ${display(ancestor)} is a symlink`)
    : new LayerUnpackError('corrupt', `${display(entryPath)}: ${display(ancestor)} is not a directory`);
}

/**
 * A tar time as Node's time setters take it. Node passes seconds to libuv
 * as a double, which cuts them to the microsecond; aiming at the middle of
 * the microsecond keeps the double's rounding error (a few hundred
 * nanoseconds at today's times) from landing in the one before, so the
 * result is the exact time cut to the microsecond. Node reads a negative
 * number as "now", so times before 1970 go as a Date, to the millisecond.
 */
function fsTime(time: TarTimestamp): number | Date {
  if (time.seconds < 0) return new Date(time.seconds * 1000 + Math.floor(time.nanoseconds / 1e6));
  return time.seconds + (Math.floor(time.nanoseconds / 1000) + 0.5) / 1e6;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
