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
import type { TarEntry } from './tar-writer.js';

export const MTIME = 1_600_000_000;

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
   * Whole microseconds since the epoch (Node sets times no finer), or 'now'
   * for a time the unpacker did not take from the layer (whiteouts,
   * implicit parents): anything from a second before `since` on.
   */
  mtime: string;
  /** The first path, in walk order, that shares this file's inode. */
  linkedTo?: string;
}

/**
 * Every path below `root` (not `root` itself), in sorted order. Names are
 * read as bytes; one that is not UTF-8 is keyed by its hex.
 */
export async function snapshotTree(root: string, since: Date): Promise<Record<string, NodeSnapshot>> {
  const xattrs = readXattrs(root);
  // File times come from the kernel's coarse clock, which can lag Date.now() by a tick.
  const sinceUs = (BigInt(since.getTime()) - 1000n) * 1000n;
  const inodes = new Map<bigint, string>();
  const snapshot: Record<string, NodeSnapshot> = {};
  const walk = async (directory: Buffer, prefix: string): Promise<void> => {
    const names = (await readdir(directory, { encoding: 'buffer' })).sort((a, b) => Buffer.compare(a, b));
    for (const name of names) {
      const absolute = Buffer.concat([directory, Buffer.from('/'), name]);
      const relative = `${prefix}${readable(name)}`;
      const stats = await lstat(absolute, { bigint: true });
      const mtimeUs = floorDivide(stats.mtimeNs, 1000n);
      const node: NodeSnapshot = {
        type: typeOf(stats),
        mode: (Number(stats.mode) & 0o7777).toString(8),
        uid: Number(stats.uid),
        gid: Number(stats.gid),
        xattrs: xattrs.get(absolute.toString()) ?? {},
        mtime: mtimeUs >= sinceUs ? 'now' : String(mtimeUs),
      };
      if (stats.isFile()) {
        node.size = Number(stats.size);
        node.sha256 = createHash('sha256')
          .update(await readFile(absolute))
          .digest('hex');
      }
      if (stats.isSymbolicLink()) node.target = readable(await readlink(absolute, { encoding: 'buffer' }));
      if (stats.isCharacterDevice() || stats.isBlockDevice()) node.device = `${major(stats.rdev)}:${minor(stats.rdev)}`;
      if (!stats.isDirectory() && stats.nlink > 1n) {
        const first = inodes.get(stats.ino);
        if (first === undefined) inodes.set(stats.ino, relative);
        else node.linkedTo = first;
      }
      snapshot[relative] = node;
      if (stats.isDirectory()) await walk(absolute, `${relative}/`);
    }
  };
  await walk(Buffer.from(root), '');
  return snapshot;
}

function readable(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return Buffer.from(text).equals(bytes) ? text : `<hex ${bytes.toString('hex')}>`;
}

function floorDivide(dividend: bigint, divisor: bigint): bigint {
  const quotient = dividend / divisor;
  return dividend % divisor < 0n ? quotient - 1n : quotient;
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

/** One entry of every type, each with its own owner, mode and mtime. */
export const BASIC_LAYER: TarEntry[] = [
  { type: 'dir', path: 'etc/', mode: 0o750, uid: 10, gid: 20, mtime: MTIME },
  { type: 'file', path: 'etc/hosts', content: 'hosts\n', mode: 0o640, uid: 1000, gid: 1001, mtime: MTIME + 1 },
  { type: 'symlink', path: 'etc/localtime', target: '/usr/share/zoneinfo/UTC', uid: 7, gid: 8, mtime: MTIME + 2 },
  { type: 'hardlink', path: 'etc/hosts.bak', target: 'etc/hosts' },
  { type: 'char', path: 'dev-null', major: 1, minor: 3, mode: 0o666, uid: 0, gid: 5, mtime: MTIME + 3 },
  { type: 'block', path: 'loop0', major: 7, minor: 0, mode: 0o660, uid: 0, gid: 6, mtime: MTIME + 4 },
  { type: 'fifo', path: 'pipe', mode: 0o620, uid: 3, gid: 4, mtime: MTIME + 5 },
  { type: 'raw', typeflag: '7', path: 'contiguous', content: Buffer.from('seven'), mode: 0o600 },
  { type: 'raw', typeflag: '\0', path: 'old-style', content: Buffer.from('nul'), mode: 0o600 },
  { type: 'raw', typeflag: '\0', path: 'old-dir/', mode: 0o700 },
];

/** Layers that try to write outside the destination, `outside` being a directory beside it. */
export const ESCAPE_LAYERS: Record<string, (outside: string) => TarEntry[]> = {
  'a ".." component': () => [{ type: 'file', path: '../secret', content: 'owned' }],
  'a ".." deeper down': () => [{ type: 'file', path: 'a/../../secret', content: 'owned' }],
  'an absolute path': (outside) => [{ type: 'file', path: `${outside}/secret`, content: 'owned' }],
  'a write through an absolute symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'file', path: 'a/secret', content: 'owned' },
  ],
  'a write through a relative symlink': () => [
    { type: 'symlink', path: 'a', target: '../outside' },
    { type: 'file', path: 'a/secret', content: 'owned' },
  ],
  'a directory through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'dir', path: 'a/new/' },
  ],
  'a whiteout through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'file', path: 'a/.wh.secret' },
  ],
  'an opaque marker through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'file', path: 'a/.wh..wh..opq' },
  ],
  'a device through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'fifo', path: 'a/fifo' },
  ],
  'a symlink through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'symlink', path: 'a/link', target: '/' },
  ],
  'a hard link to outside': () => [{ type: 'hardlink', path: 'stolen', target: '../outside/secret' }],
  'a hard link to an absolute path': (outside) => [{ type: 'hardlink', path: 'stolen', target: `${outside}/secret` }],
  'a hard link through a symlink': (outside) => [
    { type: 'symlink', path: 'a', target: outside },
    { type: 'hardlink', path: 'stolen', target: 'a/secret' },
  ],
  'a whiteout of ".."': () => [{ type: 'file', path: 'a/.wh...' }],
};

/** Layers that are malformed without being hostile, each in its own way. */
export const CORRUPT_LAYERS: Record<string, TarEntry[]> = {
  'a file where a parent directory should be': [
    { type: 'file', path: 'a', content: 'file' },
    { type: 'file', path: 'a/b', content: 'under a file' },
  ],
  'a hard link to a missing entry': [{ type: 'hardlink', path: 'h', target: 'missing' }],
  'a hard link to a directory': [
    { type: 'dir', path: 'd/' },
    { type: 'hardlink', path: 'h', target: 'd' },
  ],
  'a hard link to itself': [{ type: 'hardlink', path: 'h', target: 'h' }],
  'a symlink with an empty target': [{ type: 'symlink', path: 's', target: '' }],
  'a whiteout without a name': [{ type: 'file', path: 'dir/.wh.' }],
  'an invalid PAX size': [{ type: 'file', path: 'f', content: 'x', pax: { size: 'lots' } }],
  'a uid of -1': [{ type: 'file', path: 'f', pax: { uid: '4294967295' } }],
  'a PAX header with no entry after it': [{ type: 'raw', typeflag: 'x', path: 'pax', content: paxRecords({ path: 'f' }) }],
  'a path longer than PATH_MAX': [{ type: 'file', path: `${'p/'.repeat(2048)}f` }],
};

/** Rewrites header bytes at `offset` and recomputes the checksum, for names no tar writer produces. */
export function patchHeader(tar: Buffer, headerOffset: number, fieldOffset: number, bytes: Buffer): Buffer {
  const patched = Buffer.from(tar);
  bytes.copy(patched, headerOffset + fieldOffset);
  patched.fill(' ', headerOffset + 148, headerOffset + 156);
  let sum = 0;
  for (let i = headerOffset; i < headerOffset + 512; i++) sum += patched[i] ?? 0;
  patched.write(`${sum.toString(8).padStart(6, '0')}\0 `, headerOffset + 148, 8, 'latin1');
  return patched;
}

export function paxRecords(records: Record<string, string>): Buffer {
  return Buffer.concat(
    Object.entries(records).map(([key, value]) => {
      const rest = ` ${key}=${value}\n`;
      let length = rest.length + 1;
      while (String(length).length + rest.length !== length) length += 1;
      return Buffer.from(`${length}${rest}`);
    }),
  );
}
