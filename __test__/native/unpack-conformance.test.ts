/**
 * The native and the TypeScript layer unpackers must agree: the same layer
 * gives the same result (digests, sizes, entry count) or the same rejection,
 * and the same tree, attribute for attribute. One table of layers, ordinary
 * and hostile, hand-made and written by GNU tar, runs through both.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  LayerUnpackError,
  selectLayerUnpacker,
  type LayerCompression,
  type LayerUnpacker,
  type LayerUnpackRequest,
} from '../../src/image/unpack/index.js';
import {
  BASIC_LAYER,
  compress,
  CORRUPT_LAYERS,
  ESCAPE_LAYERS,
  MTIME,
  patchHeader,
  paxRecords,
  snapshotTree,
  zstdCompress,
} from '../helpers/layer-fixtures.js';
import { tarArchive, type TarEntry } from '../helpers/tar-writer.js';

const MiB = 1024 * 1024;

interface Layer {
  blob: Buffer;
  compression: LayerCompression;
  maxUncompressedBytes?: number;
}

// As the daemon picks them, so the selector's wiring is under test too.
const UNPACKERS: Record<'native' | 'js', LayerUnpacker> = {
  native: selectLayerUnpacker('native'),
  js: selectLayerUnpacker('js'),
};

const gzip = (entries: readonly TarEntry[]): Layer => ({ blob: gzipSync(tarArchive(entries)), compression: 'gzip' });

function layers(outside: string): Record<string, Layer> {
  const table: Record<string, Layer> = {};
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    const tar = Buffer.concat([tarArchive(BASIC_LAYER), Buffer.alloc(10240)]);
    table[`every entry type (${compression})`] = { blob: compress(tar, compression), compression };
  }
  Object.assign(table, {
    'setuid, setgid and sticky bits': gzip([
      { type: 'file', path: 'su', content: '#!', mode: 0o4755, uid: 1000, gid: 1000 },
      { type: 'file', path: 'sg', content: '#!', mode: 0o2711, uid: 0, gid: 50 },
      { type: 'dir', path: 'tmp', mode: 0o1777 },
      { type: 'fifo', path: 'sfifo', mode: 0o2660, uid: 5, gid: 5 },
      { type: 'char', path: 'sdev', major: 4, minor: 64, mode: 0o4620, uid: 1, gid: 2 },
    ]),
    'directory and sub-second mtimes, before 1970 too': gzip([
      { type: 'dir', path: 'a/', mtime: MTIME },
      { type: 'dir', path: 'a/b/', mtime: MTIME + 10.25 },
      { type: 'file', path: 'a/b/c', content: 'x', mtime: MTIME + 20.123456789 },
      { type: 'symlink', path: 'a/b/l', target: 'c', mtime: MTIME + 30.75 },
      { type: 'file', path: 'old', content: 'y', pax: { mtime: '-1.25' } },
      { type: 'dir', path: 'a/', mtime: MTIME + 5 },
    ]),
    'implicit parents and an entry for the destination itself': gzip([
      { type: 'dir', path: './', mode: 0o700, uid: 99 },
      { type: 'file', path: './x/y/z', content: 'deep', uid: 1000, gid: 1000 },
      { type: 'file', path: 'p/.wh..wh..opq' },
    ]),
    'PAX and GNU long names and link targets': gzip([
      { type: 'file', path: `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(120)}`, content: 'pax' },
      { type: 'symlink', path: 'long-link', target: 'x'.repeat(300) },
      { type: 'raw', typeflag: 'L', path: '././@LongLink', content: Buffer.from(`${'g'.repeat(150)}/file\0`) },
      { type: 'file', path: 'placeholder', content: 'gnu' },
      { type: 'raw', typeflag: 'K', path: '././@LongLink', content: Buffer.from(`${'t'.repeat(140)}/target\0`) },
      { type: 'symlink', path: 'gnu-link', target: 'short' },
    ]),
    'PAX global headers, overridden and deleted': gzip([
      { type: 'raw', typeflag: 'g', path: 'global', content: paxRecords({ uid: '4242', gid: '4343', 'SCHILY.xattr.trusted.g': 'all' }) },
      { type: 'file', path: 'a', content: 'a' },
      { type: 'file', path: 'b', content: 'b', pax: { uid: '7', 'SCHILY.xattr.trusted.g': '' } },
      { type: 'raw', typeflag: 'g', path: 'global', content: paxRecords({ gid: '' }) },
      { type: 'file', path: 'c', content: 'c', gid: 9 },
    ]),
    'a name that is not UTF-8': {
      blob: patchHeader(tarArchive([{ type: 'file', path: 'caf?', content: 'latin1' }]), 0, 3, Buffer.from([0xe9])),
      compression: 'none',
    },
    xattrs: gzip([
      { type: 'dir', path: 'd/', xattrs: { 'trusted.dir': 'yes' } },
      {
        type: 'file',
        path: 'd/ping',
        content: 'elf',
        uid: 1000,
        xattrs: { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex').toString('latin1'), 'user.note': 'hi' },
      },
      { type: 'symlink', path: 'd/link', target: 'ping', xattrs: { 'trusted.link': 'own', 'user.refused': 'x' } },
      { type: 'fifo', path: 'd/fifo', xattrs: { 'trusted.fifo': 'f', 'user.refused': 'x' } },
      { type: 'dir', path: 'sneaky/', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.redirect': '/x' } },
    ]),
    whiteouts: gzip([
      { type: 'dir', path: 'etc/', mtime: MTIME },
      { type: 'file', path: 'etc/.wh.passwd', uid: 12, gid: 34 },
      { type: 'file', path: '.wh.top' },
      { type: 'file', path: 'var/lib/.wh..wh..opq' },
      { type: 'dir', path: 'opaque/', mode: 0o700, mtime: MTIME },
      { type: 'file', path: 'opaque/.wh..wh..opq' },
      { type: 'file', path: '.wh..wh.plnk' },
      { type: 'dir', path: '.wh..wh.orph/' },
      { type: 'file', path: 'etc/shadow', content: 'x' },
      { type: 'file', path: 'etc/.wh.shadow' },
    ]),
    'later entries replace earlier ones': gzip([
      { type: 'file', path: 'f', content: 'first' },
      { type: 'file', path: 'f', content: 'second', mode: 0o600 },
      { type: 'dir', path: 'was-dir/' },
      { type: 'file', path: 'was-dir/child', content: 'gone' },
      { type: 'file', path: 'was-dir', content: 'now a file' },
      { type: 'file', path: 'was-file', content: 'gone' },
      { type: 'dir', path: 'was-file/', mode: 0o711, mtime: MTIME },
      { type: 'dir', path: 'kept/', mode: 0o700, mtime: MTIME },
      { type: 'file', path: 'kept/inside', content: 'kept' },
      { type: 'dir', path: 'kept/', mode: 0o755, mtime: MTIME + 1 },
      { type: 'fifo', path: 'node' },
      { type: 'symlink', path: 'node', target: 'elsewhere' },
      { type: 'symlink', path: 'through', target: outside },
      { type: 'dir', path: 'through/', mtime: MTIME },
      { type: 'symlink', path: 'file-link', target: path.join(outside, 'secret') },
      { type: 'file', path: 'file-link', content: 'mine' },
    ]),
    'hard links to files, symlinks and devices': gzip([
      { type: 'file', path: 'a', content: 'shared', mode: 0o640, uid: 3 },
      { type: 'hardlink', path: 'b', target: './a' },
      { type: 'hardlink', path: 'dir/c', target: 'b' },
      { type: 'symlink', path: 's', target: '/nowhere' },
      { type: 'hardlink', path: 's2', target: 's' },
      { type: 'char', path: 'dev', major: 1, minor: 5 },
      { type: 'hardlink', path: 'dev2', target: 'dev' },
    ]),
    'a symlink pointing anywhere': gzip([{ type: 'symlink', path: 'escape', target: '../../../../etc/shadow' }]),
    'bytes after the end-of-archive marker': {
      blob: gzipSync(Buffer.concat([tarArchive([{ type: 'file', path: 'f', content: 'x' }]), Buffer.from('trailing garbage')])),
      compression: 'gzip',
    },
    'no end-of-archive marker': {
      blob: gzipSync(tarArchive([{ type: 'file', path: 'f', content: 'x' }]).subarray(0, -1024)),
      compression: 'gzip',
    },
    'one zero block at the end': {
      blob: gzipSync(tarArchive([{ type: 'file', path: 'f', content: 'x' }]).subarray(0, -512)),
      compression: 'gzip',
    },
    'a multi-member gzip stream': (() => {
      const tar = tarArchive([
        { type: 'file', path: 'one', content: Buffer.alloc(3000, 1) },
        { type: 'file', path: 'two', content: Buffer.alloc(3000, 2) },
      ]);
      return { blob: Buffer.concat([gzipSync(tar.subarray(0, 2500)), gzipSync(tar.subarray(2500))]), compression: 'gzip' };
    })(),
    'zstd frames and a skippable frame': (() => {
      const tar = tarArchive([
        { type: 'file', path: 'one', content: Buffer.alloc(300_000, 1) },
        { type: 'file', path: 'two', content: Buffer.alloc(3000, 2) },
      ]);
      const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
      return { blob: Buffer.concat([zstdCompress(tar.subarray(0, 100_000)), skippable, zstdCompress(tar.subarray(100_000), '--no-check')]), compression: 'zstd' };
    })(),
    'a layer exactly at the limit': (() => {
      const tar = tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(MiB) }]);
      return { blob: gzipSync(tar), compression: 'gzip', maxUncompressedBytes: tar.length };
    })(),
    'a layer one byte over the limit': (() => {
      const tar = tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(MiB) }]);
      return { blob: gzipSync(tar), compression: 'gzip', maxUncompressedBytes: tar.length - 1 };
    })(),
    'a gzip bomb': { blob: gzipSync(Buffer.alloc(64 * MiB), { level: 9 }), compression: 'gzip', maxUncompressedBytes: MiB },
    'a zstd bomb': { blob: zstdCompress(Buffer.alloc(64 * MiB), '-19'), compression: 'zstd', maxUncompressedBytes: MiB },
    'a wrong header checksum': (() => {
      const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
      tar[0] = 'g'.charCodeAt(0);
      return { blob: tar, compression: 'none' };
    })(),
    'a lone zero block followed by an entry': {
      blob: Buffer.concat([Buffer.alloc(512), tarArchive([{ type: 'file', path: 'f', content: 'x' }])]),
      compression: 'none',
    },
    'a gzip stream cut short': (() => {
      const blob = gzipSync(tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(100_000, 7) }]));
      return { blob: blob.subarray(0, -20), compression: 'gzip' };
    })(),
    'a tar stream cut inside an entry': {
      blob: gzipSync(tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(10_000, 7) }]).subarray(0, 4096)),
      compression: 'gzip',
    },
    'a zstd stream cut short': (() => {
      const blob = zstdCompress(tarArchive([{ type: 'file', path: 'f', content: Buffer.alloc(100_000, 7) }]));
      return { blob: blob.subarray(0, -6), compression: 'zstd' };
    })(),
    'a tar stream labelled gzip': { blob: tarArchive([{ type: 'file', path: 'f' }]), compression: 'gzip' },
    'a tar stream labelled zstd': { blob: tarArchive([{ type: 'file', path: 'f' }]), compression: 'zstd' },
    'an empty gzip blob': { blob: Buffer.alloc(0), compression: 'gzip' },
    'an empty zstd blob': { blob: Buffer.alloc(0), compression: 'zstd' },
    'an empty uncompressed blob': { blob: Buffer.alloc(0), compression: 'none' },
    'a zstd window over 128 MiB': (() => {
      const tar = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
      const block = Buffer.alloc(3);
      block.writeUIntLE((tar.length << 3) | 1, 0, 3);
      return { blob: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3]), block, tar]), compression: 'zstd' };
    })(),
    'a GNU sparse file': gzip([{ type: 'raw', typeflag: 'S', path: 'sparse' }]),
    'a PAX sparse file': gzip([{ type: 'file', path: 'sparse', pax: { 'GNU.sparse.major': '1' } }]),
    'a volume header': gzip([{ type: 'raw', typeflag: 'V', path: 'volume' }]),
    'an unknown typeflag': gzip([{ type: 'raw', typeflag: 'Z', path: 'odd' }]),
  } satisfies Record<string, Layer>);
  for (const [name, layer] of Object.entries(ESCAPE_LAYERS)) table[`escape: ${name}`] = gzip(layer(outside));
  for (const [name, layer] of Object.entries(CORRUPT_LAYERS)) table[`corrupt: ${name}`] = gzip(layer);
  return table;
}

/** The same directory tree archived by GNU tar itself, in its own format and in PAX with xattrs. */
function gnuTarLayers(work: string): Record<string, Layer> {
  const source = path.join(work, 'source');
  mkdirSync(path.join(source, 'usr/lib', 'n'.repeat(90), 'o'.repeat(90)), { recursive: true });
  writeFileSync(path.join(source, 'usr/lib', 'n'.repeat(90), 'o'.repeat(90), 'p'.repeat(100)), 'long');
  writeFileSync(path.join(source, 'usr/lib/big'), Buffer.alloc(3 * MiB, 'z'));
  writeFileSync(path.join(source, 'usr/lib/empty'), '');
  linkSync(path.join(source, 'usr/lib/big'), path.join(source, 'usr/lib/big-link'));
  symlinkSync('big', path.join(source, 'usr/lib/big-symlink'));
  mkdirSync(path.join(source, 'dev'));
  const run = (command: string, ...args: string[]): void => {
    const result = spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  };
  run('mknod', '-m', '640', path.join(source, 'dev/tty'), 'c', '5', '0');
  run('mknod', '-m', '600', path.join(source, 'dev/fifo'), 'p');
  run('setfattr', '-n', 'trusted.tag', '-v', 'gnu', path.join(source, 'usr/lib/empty'));
  run('chown', '-R', '1234:5678', path.join(source, 'usr/lib/big'));
  run('chmod', '4750', path.join(source, 'usr/lib/big'));
  run('find', source, '-exec', 'touch', '-h', '-d', '@1500000000.123456789', '{}', '+');
  run('touch', '-h', '-d', '@1500000000.5', path.join(source, 'usr/lib/big-symlink'));
  run('touch', '-d', '@1400000000', path.join(source, 'usr/lib'), path.join(source, 'dev'));
  const archive = (format: string, ...flags: string[]): Buffer => {
    const tarPath = path.join(work, `${format}.tar`);
    run('tar', `--format=${format}`, ...flags, '-C', source, '-cf', tarPath, '.');
    return readFileSync(tarPath);
  };
  const gnu = archive('gnu');
  const pax = archive('posix', '--xattrs', '--xattrs-include=*');
  return {
    'GNU tar, gnu format': { blob: gzipSync(gnu), compression: 'gzip' },
    'GNU tar, posix format with xattrs': { blob: zstdCompress(pax), compression: 'zstd' },
  };
}

type Outcome = { result: unknown; tree: unknown } | { rejection: string };

async function outcome(unpacker: LayerUnpacker, request: LayerUnpackRequest): Promise<Outcome> {
  const since = new Date();
  try {
    const result = await unpacker(request);
    return { result, tree: await snapshotTree(request.destination, since) };
  } catch (error) {
    if (error instanceof LayerUnpackError) return { rejection: error.rejection };
    throw error;
  }
}

// ava wants every test declared synchronously, so the table is built so too.
const work = mkdtempSync(path.join(os.tmpdir(), 'crion-conformance-'));
const outside = path.join(work, 'outside');
mkdirSync(outside);
writeFileSync(path.join(outside, 'secret'), 'untouched');
test.after.always(() => rm(work, { recursive: true, force: true }));

const table = { ...layers(outside), ...gnuTarLayers(work) };
let counter = 0;

for (const [name, layer] of Object.entries(table)) {
  test(`both unpackers agree: ${name}`, async (t) => {
    const directory = path.join(work, String(counter++));
    await mkdir(directory);
    const blobPath = path.join(directory, 'blob');
    await writeFile(blobPath, layer.blob);
    const outcomes: Partial<Record<keyof typeof UNPACKERS, Outcome>> = {};
    for (const [kind, unpacker] of Object.entries(UNPACKERS) as [keyof typeof UNPACKERS, LayerUnpacker][]) {
      const destination = path.join(directory, kind);
      await mkdir(destination);
      outcomes[kind] = await outcome(unpacker, {
        blobPath,
        destination,
        compression: layer.compression,
        maxUncompressedBytes: layer.maxUncompressedBytes ?? 64 * MiB,
      });
    }
    t.deepEqual(outcomes.native, outcomes.js);
    t.deepEqual(await readdir(outside), ['secret']);
    t.is(await readFile(path.join(outside, 'secret'), 'utf8'), 'untouched');
  });
}
