/**
 * Layers for the unpacker tests, and a snapshot of what an unpacker left on
 * disk that two unpackers' results can be compared with: every attribute a
 * layer sets (type, mode, owner, size, content hash, link target, device
 * number, xattrs, mtime, hard-link groups), keyed by path.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { LayerCompression } from '../../src/image/unpack/index.js';

export function compress(tar: Buffer, compression: LayerCompression): Buffer {
  switch (compression) {
    case 'gzip':
      return gzipSync(tar);
    case 'zstd':
      return zstdCompress(tar);
    case 'none':
      return tar;
  }
}

export function zstdCompress(data: Buffer, ...flags: string[]): Buffer {
  const result = spawnSync('zstd', ['-q', '-c', ...flags], { input: data, maxBuffer: 1024 ** 3 });
  if (result.status !== 0) throw new Error(`zstd failed: ${result.stderr.toString()}`);
  return result.stdout;
}

export async function writeBlob(directory: string, blob: Buffer): Promise<string> {
  const blobPath = path.join(directory, 'blob');
  await writeFile(blobPath, blob);
  return blobPath;
}

/** The sha256 a CLI computes, as the reference for an unpacker's digests. */
export function sha256sum(filePath: string): string {
  const result = spawnSync('sha256sum', [filePath], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sha256sum failed: ${result.stderr}`);
  return `sha256:${result.stdout.split(' ')[0]}`;
}

export interface NodeSnapshot {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  device?: string;
  xattrs: Record<string, string>;
  /**
   * Microseconds since the epoch (Node sets times through a double, which
   * keeps about that much), or 'now' for a time the unpacker did not take
   * from the layer (whiteouts, implicit parents): anything after `since`.
   */
  mtime: string;
  /** The first path, in sorted order, that shares this file's inode. */
  linkedTo?: string;
}

/** Every path below `root` (not `root` itself), sorted. */
export async function snapshotTree(root: string, since: Date): Promise<Record<string, NodeSnapshot>> {
  const xattrs = readXattrs(root);
  const sinceUs = BigInt(since.getTime()) * 1000n;
  const inodes = new Map<bigint, string>();
  const snapshot: Record<string, NodeSnapshot> = {};
  const paths = (await readdir(root, { recursive: true })).sort();
  for (const relative of paths) {
    const absolute = path.join(root, relative);
    const stats = await lstat(absolute, { bigint: true });
    const mtimeUs = (stats.mtimeNs + 500n) / 1000n;
    const node: NodeSnapshot = {
      type: typeOf(stats),
      mode: (Number(stats.mode) & 0o7777).toString(8),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      xattrs: xattrs.get(absolute) ?? {},
      mtime: mtimeUs >= sinceUs ? 'now' : String(mtimeUs),
    };
    if (stats.isFile()) {
      node.size = Number(stats.size);
      node.sha256 = createHash('sha256')
        .update(await readFile(absolute))
        .digest('hex');
    }
    if (stats.isSymbolicLink()) node.target = await readlink(absolute);
    if (stats.isCharacterDevice() || stats.isBlockDevice()) node.device = `${major(stats.rdev)}:${minor(stats.rdev)}`;
    if (!stats.isDirectory() && stats.nlink > 1n) {
      const first = inodes.get(stats.ino);
      if (first === undefined) inodes.set(stats.ino, relative);
      else node.linkedTo = first;
    }
    snapshot[relative] = node;
  }
  return snapshot;
}

function typeOf(stats: import('node:fs').BigIntStats): NodeSnapshot['type'] {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  if (stats.isFIFO()) return 'fifo';
  return 'socket';
}

/** glibc's gnu_dev_major and gnu_dev_minor. */
function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** Every xattr below `root` (symlinks' own included), by absolute path, values in hex. */
export function readXattrs(root: string): Map<string, Record<string, string>> {
  const result = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], {
    encoding: 'latin1',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0 && result.stdout === '') throw new Error(`getfattr failed: ${result.stderr}`);
  const xattrs = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      xattrs.set(unescapeAttrPath(line.slice('# file: '.length)), current);
    } else if (line !== '' && current !== undefined) {
      const equals = line.indexOf('=');
      current[unescapeAttrPath(line.slice(0, equals))] = line.slice(equals + 1).replace(/^0x/, '');
    }
  }
  return xattrs;
}

/** getfattr writes unusual bytes as `\ooo`. */
function unescapeAttrPath(text: string): string {
  const bytes = Buffer.from(
    text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    'latin1',
  );
  return bytes.toString('utf8');
}
