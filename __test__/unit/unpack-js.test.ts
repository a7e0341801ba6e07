import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  LayerUnpackError,
  selectLayerUnpacker,
  unpackLayerJs,
  type LayerCompression,
  type LayerRejection,
  type LayerUnpackResult,
} from '../../src/image/unpack/index.js';
import {
  BASIC_LAYER,
  compress,
  CORRUPT_LAYERS,
  ESCAPE_LAYERS,
  MTIME,
  patchHeader,
  paxRecords,
  readXattrs,
  sha256sum,
  writeBlob,
  zstdCompress,
} from '../helpers/layer-fixtures.js';
import { tarArchive, type TarEntry } from '../helpers/tar-writer.js';

const MiB = 1024 * 1024;

interface Unpacked {
  root: string;
  /** A directory beside `root` that a hostile layer must not reach. */
  outside: string;
  blobPath: string;
  result: LayerUnpackResult;
}

/** A scratch directory per test, removed when the test ends. */
async function scratch(t: ExecutionContext): Promise<{ root: string; outside: string; work: string }> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'crion-unpack-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const root = path.join(work, 'root');
  const outside = path.join(work, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret'), 'untouched');
  return { root, outside, work };
}

async function unpackBlob(
  t: ExecutionContext,
  blob: Buffer,
  compression: LayerCompression,
  options: { maxUncompressedBytes?: number; signal?: AbortSignal } = {},
): Promise<Unpacked> {
  const { root, outside, work } = await scratch(t);
  const blobPath = await writeBlob(work, blob);
  const request = { blobPath, destination: root, compression, maxUncompressedBytes: options.maxUncompressedBytes ?? 64 * MiB };
  const result = await unpackLayerJs(request, options.signal);
  return { root, outside, blobPath, result };
}

function unpack(t: ExecutionContext, entries: readonly TarEntry[], compression: LayerCompression = 'gzip'): Promise<Unpacked> {
  return unpackBlob(t, compress(tarArchive(entries), compression), compression);
}

async function rejection(t: ExecutionContext, attempt: Promise<unknown>, expected: LayerRejection): Promise<void> {
  const error = await t.throwsAsync(attempt, { instanceOf: LayerUnpackError });
  t.is(error?.rejection, expected, error?.message);
}

/** The files a hostile layer aimed at are as they were. */
async function outsideUntouched(t: ExecutionContext, outside: string): Promise<void> {
  t.deepEqual(await readdir(outside), ['secret']);
  t.is(await readFile(path.join(outside, 'secret'), 'utf8'), 'untouched');
}

test('every entry type lands with its owner, mode and mtime', async (t) => {
  const { root, result } = await unpack(t, BASIC_LAYER);
  t.is(result.entries, BASIC_LAYER.length);

  const etc = await lstat(path.join(root, 'etc'));
  t.true(etc.isDirectory());
  t.deepEqual([etc.mode & 0o7777, etc.uid, etc.gid, etc.mtimeMs], [0o750, 10, 20, MTIME * 1000]);

  const hosts = await lstat(path.join(root, 'etc/hosts'));
  t.true(hosts.isFile());
  t.deepEqual([hosts.mode & 0o7777, hosts.uid, hosts.gid, hosts.mtimeMs], [0o640, 1000, 1001, (MTIME + 1) * 1000]);
  t.is(await readFile(path.join(root, 'etc/hosts'), 'utf8'), 'hosts\n');

  const localtime = await lstat(path.join(root, 'etc/localtime'));
  t.true(localtime.isSymbolicLink());
  t.is(await readlink(path.join(root, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
  t.deepEqual([localtime.uid, localtime.gid, localtime.mtimeMs], [7, 8, (MTIME + 2) * 1000]);

  const backup = await lstat(path.join(root, 'etc/hosts.bak'));
  t.is(backup.ino, hosts.ino);
  t.is(backup.nlink, 2);

  const devNull = await lstat(path.join(root, 'dev-null'));
  t.true(devNull.isCharacterDevice());
  t.deepEqual([devNull.rdev, devNull.mode & 0o7777, devNull.gid, devNull.mtimeMs], [(1 << 8) | 3, 0o666, 5, (MTIME + 3) * 1000]);

  const loop = await lstat(path.join(root, 'loop0'));
  t.true(loop.isBlockDevice());
  t.deepEqual([loop.rdev, loop.mode & 0o7777, loop.gid], [7 << 8, 0o660, 6]);

  const pipe = await lstat(path.join(root, 'pipe'));
  t.true(pipe.isFIFO());
  t.deepEqual([pipe.mode & 0o7777, pipe.uid, pipe.gid, pipe.mtimeMs], [0o620, 3, 4, (MTIME + 5) * 1000]);

  t.is(await readFile(path.join(root, 'contiguous'), 'utf8'), 'seven');
  t.is(await readFile(path.join(root, 'old-style'), 'utf8'), 'nul');
  t.true((await lstat(path.join(root, 'old-dir'))).isDirectory());
});

test('setuid, setgid and sticky survive the chown that would clear them', async (t) => {
  const { root } = await unpack(t, [
    { type: 'file', path: 'su', content: '#!', mode: 0o4755, uid: 1000, gid: 1000 },
    { type: 'file', path: 'sg', content: '#!', mode: 0o2711, uid: 0, gid: 50 },
    { type: 'dir', path: 'tmp', mode: 0o1777, uid: 0, gid: 0 },
    { type: 'fifo', path: 'sfifo', mode: 0o2660, uid: 5, gid: 5 },
  ]);
  t.is((await lstat(path.join(root, 'su'))).mode & 0o7777, 0o4755);
  t.is((await lstat(path.join(root, 'sg'))).mode & 0o7777, 0o2711);
  t.is((await lstat(path.join(root, 'tmp'))).mode & 0o7777, 0o1777);
  t.is((await lstat(path.join(root, 'sfifo'))).mode & 0o7777, 0o2660);
});

test('directory mtimes hold after their contents are written, and PAX fractions keep sub-second precision', async (t) => {
  const { root } = await unpack(t, [
    { type: 'dir', path: 'a/', mtime: MTIME },
    { type: 'dir', path: 'a/b/', mtime: MTIME + 10.25 },
    { type: 'file', path: 'a/b/c', content: 'x', mtime: MTIME + 20.5 },
    { type: 'file', path: 'a/d', content: 'y' },
    { type: 'symlink', path: 'a/b/l', target: 'c', mtime: MTIME + 30.75 },
  ]);
  t.is((await stat(path.join(root, 'a'))).mtimeMs, MTIME * 1000);
  t.is((await stat(path.join(root, 'a/b'))).mtimeMs, (MTIME + 10.25) * 1000);
  t.is((await stat(path.join(root, 'a/b/c'))).mtimeMs, (MTIME + 20.5) * 1000);
  t.is((await lstat(path.join(root, 'a/b/l'))).mtimeMs, (MTIME + 30.75) * 1000);
});

test('missing parents are made 0755 and root-owned', async (t) => {
  const { root } = await unpack(t, [{ type: 'file', path: 'x/y/z', content: 'deep', uid: 1000, gid: 1000 }]);
  for (const directory of ['x', 'x/y']) {
    const stats = await lstat(path.join(root, directory));
    t.true(stats.isDirectory());
    t.deepEqual([stats.mode & 0o7777, stats.uid, stats.gid], [0o755, 0, 0]);
  }
  t.is(await readFile(path.join(root, 'x/y/z'), 'utf8'), 'deep');
});

test('PAX long names and link targets, and GNU long names, are followed', async (t) => {
  const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
  const longName = `${longDir}/${'f'.repeat(120)}`;
  const gnuName = `${'g'.repeat(150)}/file`;
  const gnuTarget = `${'t'.repeat(140)}/target`;
  const { root } = await unpack(t, [
    { type: 'file', path: longName, content: 'pax' },
    { type: 'symlink', path: 'long-link', target: longName },
    { type: 'raw', typeflag: 'L', path: '././@LongLink', content: Buffer.from(`${gnuName}\0`) },
    { type: 'file', path: 'placeholder', content: 'gnu' },
    { type: 'raw', typeflag: 'K', path: '././@LongLink', content: Buffer.from(`${gnuTarget}\0`) },
    { type: 'symlink', path: 'gnu-link', target: 'short' },
  ]);
  t.is(await readFile(path.join(root, longName), 'utf8'), 'pax');
  t.is(await readlink(path.join(root, 'long-link')), longName);
  t.is(await readFile(path.join(root, gnuName), 'utf8'), 'gnu');
  t.is(await readlink(path.join(root, 'gnu-link')), gnuTarget);
  await t.throwsAsync(lstat(path.join(root, 'placeholder')), { code: 'ENOENT' });
});

test('PAX global headers apply to every later entry; an entry header overrides them', async (t) => {
  const { root } = await unpack(t, [
    { type: 'raw', typeflag: 'g', path: 'global', content: paxRecords({ uid: '4242', gid: '4343' }) },
    { type: 'file', path: 'a', content: 'a' },
    { type: 'file', path: 'b', content: 'b', pax: { uid: '7' } },
  ]);
  const a = await lstat(path.join(root, 'a'));
  t.deepEqual([a.uid, a.gid], [4242, 4343]);
  const b = await lstat(path.join(root, 'b'));
  t.deepEqual([b.uid, b.gid], [7, 4343]);
});

test('PAX xattrs are set, binary values included, on files, directories and symlinks', async (t) => {
  const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex').toString('latin1');
  const { root } = await unpack(t, [
    { type: 'dir', path: 'd/', xattrs: { 'trusted.dir': 'yes' } },
    { type: 'file', path: 'd/ping', content: 'elf', uid: 1000, xattrs: { 'security.capability': capability, 'user.note': 'hi' } },
    { type: 'symlink', path: 'd/link', target: 'ping', xattrs: { 'trusted.link': 'own' } },
    // overlayfs metadata only comes from whiteout names, never from the archive.
    { type: 'dir', path: 'sneaky/', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.redirect': '/x' } },
  ]);
  const xattrs = readXattrs(root);
  t.deepEqual(xattrs.get(path.join(root, 'd')), { 'trusted.dir': Buffer.from('yes').toString('hex') });
  t.deepEqual(xattrs.get(path.join(root, 'd/ping')), {
    'security.capability': Buffer.from(capability, 'latin1').toString('hex'),
    'user.note': Buffer.from('hi').toString('hex'),
  });
  t.deepEqual(xattrs.get(path.join(root, 'd/link')), { 'trusted.link': Buffer.from('own').toString('hex') });
  t.is(xattrs.get(path.join(root, 'sneaky')), undefined);
});

test('an xattr the file type refuses (user.* on a symlink) is skipped, not fatal', async (t) => {
  const { root } = await unpack(t, [{ type: 'symlink', path: 'l', target: 't', xattrs: { 'user.refused': 'x', 'trusted.kept': 'y' } }]);
  t.deepEqual(readXattrs(root).get(path.join(root, 'l')), { 'trusted.kept': Buffer.from('y').toString('hex') });
});

test('whiteouts become 0:0 character devices, opaque markers an xattr, other .wh..wh. names nothing', async (t) => {
  const { root, result } = await unpack(t, [
    { type: 'dir', path: 'etc/' },
    { type: 'file', path: 'etc/.wh.passwd', uid: 12, gid: 34 },
    { type: 'file', path: '.wh.top' },
    { type: 'file', path: 'var/lib/.wh..wh..opq' },
    { type: 'file', path: '.wh..wh.plnk' },
    { type: 'dir', path: '.wh..wh.orph/' },
  ]);
  t.is(result.entries, 6);
  for (const [name, uid, gid] of [
    ['etc/passwd', 12, 34],
    ['top', 0, 0],
  ] as const) {
    const whiteout = await lstat(path.join(root, name));
    t.true(whiteout.isCharacterDevice(), name);
    t.deepEqual([whiteout.rdev, whiteout.mode & 0o7777, whiteout.uid, whiteout.gid], [0, 0, uid, gid]);
  }
  t.deepEqual(readXattrs(root).get(path.join(root, 'var/lib')), { 'trusted.overlay.opaque': '79' });
  t.deepEqual((await readdir(root)).sort(), ['etc', 'top', 'var']);
  t.deepEqual(await readdir(path.join(root, 'var/lib')), []);
});

test('a later entry replaces an earlier one at the same path, whatever the types', async (t) => {
  const { root } = await unpack(t, [
    { type: 'file', path: 'f', content: 'first' },
    { type: 'file', path: 'f', content: 'second' },
    { type: 'dir', path: 'was-dir/' },
    { type: 'file', path: 'was-dir/child', content: 'gone' },
    { type: 'file', path: 'was-dir', content: 'now a file' },
    { type: 'file', path: 'was-file', content: 'gone' },
    { type: 'dir', path: 'was-file/', mode: 0o711 },
    { type: 'dir', path: 'kept/', mode: 0o700 },
    { type: 'file', path: 'kept/inside', content: 'kept' },
    { type: 'dir', path: 'kept/', mode: 0o755 },
    { type: 'fifo', path: 'node' },
    { type: 'symlink', path: 'node', target: 'elsewhere' },
    { type: 'file', path: 'wh' },
    { type: 'file', path: '.wh.wh' },
  ]);
  t.is(await readFile(path.join(root, 'f'), 'utf8'), 'second');
  t.is(await readFile(path.join(root, 'was-dir'), 'utf8'), 'now a file');
  t.is((await lstat(path.join(root, 'was-file'))).mode & 0o7777, 0o711);
  t.is(await readFile(path.join(root, 'kept/inside'), 'utf8'), 'kept');
  t.is((await lstat(path.join(root, 'kept'))).mode & 0o7777, 0o755);
  t.is(await readlink(path.join(root, 'node')), 'elsewhere');
  t.true((await lstat(path.join(root, 'wh'))).isCharacterDevice());
});

test('names that are not UTF-8 land byte for byte', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'caf?', content: 'latin1' }]);
  const { root } = await unpackBlob(t, patchHeader(tar, 0, 3, Buffer.from([0xe9])), 'none');
  t.deepEqual(await readdir(root, { encoding: 'buffer' }), [Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
});

test('GNU base-256 numbers are read', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  const uid = Buffer.from([0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]);
  const { root } = await unpackBlob(t, patchHeader(tar, 0, 108, uid), 'none');
  t.is((await lstat(path.join(root, 'f'))).uid, 3_000_000);
});

test('an entry naming the destination itself is skipped', async (t) => {
  const { root, result } = await unpack(t, [
    { type: 'dir', path: './', mode: 0o700, uid: 99 },
    { type: 'file', path: './a', content: 'a' },
  ]);
  t.is(result.entries, 2);
  const stats = await lstat(root);
  t.not(stats.uid, 99);
  t.is(await readFile(path.join(root, 'a'), 'utf8'), 'a');
});

for (const [name, layer] of Object.entries(ESCAPE_LAYERS)) {
  test(`path-escape: ${name}`, async (t) => {
    const { root, outside, work } = await scratch(t);
    const blobPath = await writeBlob(work, gzipSync(tarArchive(layer(outside))));
    await rejection(t, unpackLayerJs({ blobPath, destination: root, compression: 'gzip', maxUncompressedBytes: 64 * MiB }), 'path-escape');
    await outsideUntouched(t, outside);
  });
}

test('a file replacing a symlink is written in its place, not through it', async (t) => {
  const { root, outside, work } = await scratch(t);
  const layer = tarArchive([
    { type: 'symlink', path: 'f', target: path.join(outside, 'secret') },
    { type: 'file', path: 'f', content: 'mine' },
    { type: 'symlink', path: 'd', target: outside },
    { type: 'dir', path: 'd/' },
  ]);
  const blobPath = await writeBlob(work, gzipSync(layer));
  await unpackLayerJs({ blobPath, destination: root, compression: 'gzip', maxUncompressedBytes: 64 * MiB });
  t.true((await lstat(path.join(root, 'f'))).isFile());
  t.is(await readFile(path.join(root, 'f'), 'utf8'), 'mine');
  t.true((await lstat(path.join(root, 'd'))).isDirectory());
  await outsideUntouched(t, outside);
});

test('a symlink may point anywhere: its target is data', async (t) => {
  const { root, outside } = await unpack(t, [{ type: 'symlink', path: 'escape', target: '../../../../etc/shadow' }]);
  t.is(await readlink(path.join(root, 'escape')), '../../../../etc/shadow');
  await outsideUntouched(t, outside);
});

for (const [name, layer] of Object.entries(CORRUPT_LAYERS)) {
  test(`corrupt: ${name}`, async (t) => {
    await rejection(t, unpack(t, layer), 'corrupt');
  });
}

test('corrupt: a header with a wrong checksum', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  tar[0] = 'g'.charCodeAt(0);
  await rejection(t, unpackBlob(t, gzipSync(tar), 'gzip'), 'corrupt');
});

test('corrupt: a gzip stream cut short', async (t) => {
  const blob = gzipSync(tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(100_000, 7) }]));
  await rejection(t, unpackBlob(t, blob.subarray(0, blob.length - 20), 'gzip'), 'corrupt');
});

test('corrupt: a tar stream cut inside an entry', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(10_000, 7) }]);
  await rejection(t, unpackBlob(t, gzipSync(tar.subarray(0, 4096)), 'gzip'), 'corrupt');
});

test('corrupt: bytes that are not gzip, or not zstd, or empty blobs', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  await rejection(t, unpackBlob(t, tar, 'gzip'), 'corrupt');
  await rejection(t, unpackBlob(t, tar, 'zstd'), 'corrupt');
  await rejection(t, unpackBlob(t, Buffer.alloc(0), 'gzip'), 'corrupt');
  await rejection(t, unpackBlob(t, Buffer.alloc(0), 'zstd'), 'corrupt');
});

test('corrupt: a zstd frame cut short', async (t) => {
  const blob = zstdCompress(tarArchive([{ type: 'file', path: 'f', content: randomBytes(5000) }]));
  await rejection(t, unpackBlob(t, blob.subarray(0, blob.length - 6), 'zstd'), 'corrupt');
});

test('corrupt: a zstd frame that asks for a window over 128 MiB', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  // Frame header: magic, no content size, window descriptor 2^30; then one raw block with the tar.
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3]);
  const block = Buffer.alloc(3);
  block.writeUIntLE((tar.length << 3) | 1, 0, 3);
  await rejection(t, unpackBlob(t, Buffer.concat([header, block, tar]), 'zstd'), 'corrupt');
});

test('unsupported-entry: typeflags a layer cannot hold', async (t) => {
  for (const typeflag of ['S', 'V', 'M', 'D', 'Z']) {
    await rejection(t, unpack(t, [{ type: 'raw', typeflag, path: 'odd' }]), 'unsupported-entry');
  }
  await rejection(t, unpack(t, [{ type: 'file', path: 'sparse', pax: { 'GNU.sparse.major': '1' } }]), 'unsupported-entry');
});

test('too-large: a gzip bomb is refused once it inflates past the limit', async (t) => {
  const bomb = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  await rejection(t, unpackBlob(t, bomb, 'gzip', { maxUncompressedBytes: MiB }), 'too-large');
});

test('too-large: a zstd bomb is refused once it inflates past the limit', async (t) => {
  const bomb = zstdCompress(Buffer.alloc(64 * MiB), '-19');
  await rejection(t, unpackBlob(t, bomb, 'zstd', { maxUncompressedBytes: MiB }), 'too-large');
});

test('the limit counts every byte of the tar stream, and a layer exactly at it passes', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(MiB - 2048) }]);
  const { result } = await unpackBlob(t, gzipSync(tar), 'gzip', { maxUncompressedBytes: tar.length });
  t.is(result.uncompressedSize, tar.length);
  await rejection(t, unpackBlob(t, gzipSync(tar), 'gzip', { maxUncompressedBytes: tar.length - 1 }), 'too-large');
});

for (const compression of ['gzip', 'zstd', 'none'] as const) {
  test(`digests match sha256sum of the blob and of the tar stream (${compression})`, async (t) => {
    const tar = Buffer.concat([tarArchive(BASIC_LAYER), Buffer.alloc(10240)]);
    const { work } = await scratch(t);
    const tarPath = path.join(work, 'layer.tar');
    await writeFile(tarPath, tar);
    const { blobPath, result } = await unpackBlob(t, compress(tar, compression), compression);
    t.deepEqual(result, {
      compressedDigest: sha256sum(blobPath),
      diffId: sha256sum(tarPath),
      compressedSize: (await stat(blobPath)).size,
      uncompressedSize: tar.length,
      entries: BASIC_LAYER.length,
    });
  });
}

test('a multi-member gzip stream is read to its last member', async (t) => {
  const tar = tarArchive([
    { type: 'file', path: 'one', content: Buffer.alloc(3000, 1) },
    { type: 'file', path: 'two', content: Buffer.alloc(3000, 2) },
  ]);
  const cut = 2500;
  const { root, result } = await unpackBlob(t, Buffer.concat([gzipSync(tar.subarray(0, cut)), gzipSync(tar.subarray(cut))]), 'gzip');
  t.deepEqual(await readFile(path.join(root, 'two')), Buffer.alloc(3000, 2));
  t.is(result.uncompressedSize, tar.length);
});

test('a zstd stream of several frames and a skippable frame is read to its end', async (t) => {
  const tar = tarArchive([
    { type: 'file', path: 'one', content: Buffer.alloc(300_000, 1) },
    { type: 'file', path: 'two', content: Buffer.alloc(3000, 2) },
  ]);
  const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
  const blob = Buffer.concat([zstdCompress(tar.subarray(0, 100_000)), skippable, zstdCompress(tar.subarray(100_000), '--no-check')]);
  const { root, result } = await unpackBlob(t, blob, 'zstd');
  t.deepEqual(await readFile(path.join(root, 'one')), Buffer.alloc(300_000, 1));
  t.deepEqual(await readFile(path.join(root, 'two')), Buffer.alloc(3000, 2));
  t.is(result.uncompressedSize, tar.length);
});

test('a tar stream without the end-of-archive blocks is accepted, as Go reads it', async (t) => {
  const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  const { root } = await unpackBlob(t, gzipSync(tar.subarray(0, tar.length - 1024)), 'gzip');
  t.is(await readFile(path.join(root, 'f'), 'utf8'), 'x');
});

test('a large file streams through intact', async (t) => {
  const content = Buffer.alloc(20 * MiB);
  for (let i = 0; i < content.length; i += 4) content.writeUInt32LE(i, i);
  const { root } = await unpackBlob(t, gzipSync(tarArchive([{ type: 'file', path: 'big', content }]), { level: 1 }), 'gzip');
  t.true((await readFile(path.join(root, 'big'))).equals(content));
});

test('an aborted signal stops the unpack with its reason, and nothing is written after it rejects', async (t) => {
  const reason = new Error('gave up');
  await t.throwsAsync(unpackBlob(t, gzipSync(tarArchive(BASIC_LAYER)), 'gzip', { signal: AbortSignal.abort(reason) }), { is: reason });

  const many: TarEntry[] = Array.from({ length: 5000 }, (_, i) => ({ type: 'file', path: `d${i % 50}/f${i}`, content: `${i}` }));
  const { root, work } = await scratch(t);
  const blobPath = await writeBlob(work, gzipSync(tarArchive(many)));
  const controller = new AbortController();
  const unpacking = unpackLayerJs({ blobPath, destination: root, compression: 'gzip', maxUncompressedBytes: 64 * MiB }, controller.signal);
  setTimeout(() => controller.abort(reason), 50);
  await t.throwsAsync(unpacking, { is: reason });
  const written = (await readdir(root, { recursive: true })).length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is((await readdir(root, { recursive: true })).length, written);
  t.true(written < 5050, 'stopped before the end');
});

test('selectLayerUnpacker picks the TypeScript unpacker for "js"', (t) => {
  t.is(selectLayerUnpacker('js'), unpackLayerJs);
});

test('the host tools the TypeScript unpacker runs are installed', (t) => {
  for (const tool of ['mknod', 'setfattr', 'getfattr', 'zstd']) {
    t.is(spawnSync(tool, ['--version']).status, 0, `${tool} is missing`);
  }
});
