/**
 * crion's own test images, pushed to a loopback registry by one call:
 *
 *   const images = await publishTestImages(registry);
 *   await crictl(daemon, ['pull', images.busybox.reference]);
 *
 * Each exercises one thing a puller and unpacker must get right: plain gzip,
 * whiteouts and odd file types across layers (with the merged tree the
 * unpacked layers must produce), zstd, platform selection from an OCI index,
 * Docker schema 2 media types, hostile paths, and a blob whose content does
 * not match its digest. Images are built once per process (same bytes, same
 * digests every time) and pushed per registry.
 */

import { busyboxEntries } from './busybox-rootfs.js';
import {
  buildImage,
  buildIndex,
  buildLayer,
  compress,
  sha256Digest,
  type BuiltImage,
  type BuiltIndex,
  type Layer,
  type Platform,
} from './oci-image-builder.js';
import { publish, type PublishedImage, type PublishedIndex } from './published-image.js';
import type { Registry } from './registry.js';
import { tarArchive, type TarEntry } from './tar-writer.js';

/** One node of an unpacked tree; `mode` is the permission bits with setuid/setgid/sticky (`st_mode & 0o7777`). */
export type ExpectedNode =
  | { type: 'dir'; mode: number; uid: number; gid: number }
  | {
      type: 'file';
      mode: number;
      uid: number;
      gid: number;
      content: string;
      xattrs?: Record<string, string>;
      /** The path this one shares an inode with (a tar hard link). */
      hardLinkOf?: string;
    }
  | { type: 'symlink'; target: string; uid: number; gid: number }
  | { type: 'fifo'; mode: number; uid: number; gid: number };

/** Every path of the merged rootfs (relative, no leading slash, no trailing slash), and nothing else. */
export type ExpectedTree = Record<string, ExpectedNode>;

export interface TestImages {
  /** `crion-test/busybox:latest`: the busybox base layer alone, gzip. Cmd `sh`. */
  busybox: PublishedImage;
  /** `crion-test/multilayer:latest`: three layers (gzip, gzip, uncompressed) with whiteouts and special files. */
  multilayer: PublishedImage & {
    /** The merged rootfs after applying all three layers. */
    tree: ExpectedTree;
    /** Paths that lower layers created and upper layers deleted. */
    deleted: string[];
  };
  /** `crion-test/zstd:latest`: busybox in one zstd layer (`…layer.v1.tar+zstd`), plus `etc/compression`. */
  zstd: PublishedImage;
  /** `crion-test/multiarch:latest`: OCI index of linux/arm64, linux/arm/v7, linux/amd64 (in that order). */
  multiarch: PublishedIndex;
  /** `crion-test/docker-schema2:latest`: a Docker manifest list (linux/arm64, linux/amd64). */
  dockerSchema2: PublishedIndex;
  /** `crion-test/docker-schema2:single`: the list's amd64 Docker schema 2 manifest, tagged on its own. */
  dockerSchema2Single: PublishedImage;
  /** `crion-test/hostile:latest`: a layer with a `../` entry. */
  hostile: PublishedImage & {
    /** The hostile entry's name; relative to the unpack directory it points outside it. */
    escapeEntry: string;
  };
  /** `crion-test/hostile-symlink:latest`: symlink `a -> /tmp`, then a file `a/<name>`. */
  hostileSymlink: PublishedImage & {
    /** The host file an unpacker that follows the symlink would create. */
    escapeHostPath: string;
  };
  /** `crion-test/corrupt:latest`: the registry serves its layer with other bytes of the same size. */
  corrupt: PublishedImage & {
    /** The layer whose served content does not hash to its digest. */
    corruptLayerDigest: string;
    /** What the served bytes actually hash to. */
    servedDigest: string;
  };
}

export const TEST_REPOSITORY_PREFIX = 'crion-test';

/** Pushes every test image to the registry and returns their references and digests. */
export async function publishTestImages(registry: Registry): Promise<TestImages> {
  const built = await buildTestImages();
  const repo = (name: string): string => `${TEST_REPOSITORY_PREFIX}/${name}`;
  const [busybox, multilayer, zstd, multiarch, dockerSchema2, hostile, hostileSymlink, corrupt] = await Promise.all([
    publish(registry, repo('busybox'), ['latest'], built.busybox),
    publish(registry, repo('multilayer'), ['latest'], built.multilayer),
    publish(registry, repo('zstd'), ['latest'], built.zstd),
    publish(registry, repo('multiarch'), ['latest'], built.multiarch),
    publish(registry, repo('docker-schema2'), ['latest'], built.dockerSchema2),
    publish(registry, repo('hostile'), ['latest'], built.hostile),
    publish(registry, repo('hostile-symlink'), ['latest'], built.hostileSymlink),
    publish(registry, repo('corrupt'), ['latest'], built.corrupt.image),
  ]);
  // Tagging the list's amd64 entry needs its manifest in the repository first.
  const dockerSchema2Single = await publish(registry, repo('docker-schema2'), ['single'], built.dockerSchema2.images[1]!);
  await registry.overwriteBlob(built.corrupt.image.layers[0]!.digest, built.corrupt.servedBytes);
  return {
    busybox,
    multilayer: { ...multilayer, tree: MULTILAYER_TREE, deleted: MULTILAYER_DELETED },
    zstd,
    multiarch,
    dockerSchema2,
    dockerSchema2Single,
    hostile: { ...hostile, escapeEntry: HOSTILE_ESCAPE_ENTRY },
    hostileSymlink: { ...hostileSymlink, escapeHostPath: `/tmp/${HOSTILE_SYMLINK_FILE}` },
    corrupt: { ...corrupt, corruptLayerDigest: built.corrupt.image.layers[0]!.digest, servedDigest: built.corrupt.servedDigest },
  };
}

interface BuiltTestImages {
  busybox: BuiltImage;
  multilayer: BuiltImage;
  zstd: BuiltImage;
  multiarch: BuiltIndex;
  dockerSchema2: BuiltIndex;
  hostile: BuiltImage;
  hostileSymlink: BuiltImage;
  corrupt: { image: BuiltImage; servedBytes: Buffer; servedDigest: string };
}

let builtOnce: Promise<BuiltTestImages> | undefined;

function buildTestImages(): Promise<BuiltTestImages> {
  builtOnce ??= buildAll();
  return builtOnce;
}

/** The runnable base every image that starts a process shares. */
export const BUSYBOX_CONFIG = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['sh'],
};

let busyboxLayerOnce: Promise<Layer> | undefined;

/** The busybox rootfs as one gzip layer, built once per process. */
export function busyboxLayer(): Promise<Layer> {
  busyboxLayerOnce ??= buildLayer(busyboxEntries(), { createdBy: 'ADD busybox rootfs' });
  return busyboxLayerOnce;
}

async function buildAll(): Promise<BuiltTestImages> {
  const base = await busyboxLayer();
  const [multilayerLayers, zstdLayer, platformLayers, hostileLayer, hostileSymlinkLayer, corrupt] = await Promise.all([
    Promise.all([
      buildLayer(MULTILAYER_LAYER_1, { createdBy: 'multilayer: base tree' }),
      buildLayer(MULTILAYER_LAYER_2, { createdBy: 'multilayer: whiteout and opaque directory' }),
      buildLayer(MULTILAYER_LAYER_3, { compression: 'none', createdBy: 'multilayer: directory whiteout, file to directory' }),
    ]),
    buildLayer([...busyboxEntries(), { type: 'file', path: 'etc/compression', content: 'zstd\n' }], {
      compression: 'zstd',
      createdBy: 'ADD busybox rootfs (zstd)',
    }),
    Promise.all(MULTIARCH_PLATFORMS.map((platform) => buildLayer(platformMarker(platform), { createdBy: 'ADD etc/platform' }))),
    buildLayer(
      [
        { type: 'dir', path: 'safe/' },
        { type: 'file', path: 'safe/ok', content: 'ok\n' },
        { type: 'file', path: HOSTILE_ESCAPE_ENTRY, content: 'escaped through ..\n' },
      ],
      { createdBy: 'hostile: ../ entry' },
    ),
    buildLayer(
      [
        { type: 'symlink', path: 'a', target: '/tmp' },
        { type: 'file', path: `a/${HOSTILE_SYMLINK_FILE}`, content: 'escaped through a symlink\n' },
      ],
      { createdBy: 'hostile: write through symlink' },
    ),
    buildCorrupt(),
  ]);

  const platformImages = (format: 'oci' | 'docker', platforms: readonly Platform[]): BuiltImage[] =>
    platforms.map((platform) => {
      const marker = platformLayers[MULTIARCH_PLATFORMS.indexOf(platform)]!;
      // Only the host's entry can run here; the others stay tiny.
      const runnable = platform.architecture === 'amd64';
      return buildImage({
        format,
        platform,
        layers: runnable ? [base, marker] : [marker],
        config: { ...BUSYBOX_CONFIG, Labels: { 'io.crion.test.platform': platformName(platform) } },
      });
    });

  return {
    busybox: buildImage({ layers: [base], config: BUSYBOX_CONFIG }),
    multilayer: buildImage({
      layers: multilayerLayers,
      config: {
        User: '1000:1000',
        Env: ['PATH=/bin', 'CRION_TEST=multilayer'],
        Entrypoint: ['/bin/setuid-tool'],
        Cmd: ['--help'],
        WorkingDir: '/home/user',
        Labels: { 'io.crion.test': 'multilayer' },
        StopSignal: 'SIGINT',
      },
    }),
    zstd: buildImage({ layers: [zstdLayer], config: BUSYBOX_CONFIG }),
    multiarch: buildIndex(platformImages('oci', MULTIARCH_PLATFORMS)),
    dockerSchema2: buildIndex(platformImages('docker', [MULTIARCH_PLATFORMS[0]!, MULTIARCH_PLATFORMS[2]!]), 'docker'),
    hostile: buildImage({ layers: [hostileLayer] }),
    hostileSymlink: buildImage({ layers: [hostileSymlinkLayer] }),
    corrupt,
  };
}

/** Deliberately not host-first, so "take the first entry" is caught. */
const MULTIARCH_PLATFORMS: readonly Platform[] = [
  { os: 'linux', architecture: 'arm64' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 'amd64' },
];

function platformName(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

function platformMarker(platform: Platform): TarEntry[] {
  return [
    { type: 'dir', path: 'etc/' },
    { type: 'file', path: 'etc/platform', content: `${platformName(platform)}\n` },
  ];
}

const HOSTILE_ESCAPE_ENTRY = '../crion-hostile-escape';
const HOSTILE_SYMLINK_FILE = 'crion-hostile-symlink-escape';

/**
 * The layer is pushed intact (the registry verifies digests on upload), then its
 * stored file is overwritten with a tar of the same length whose one file says
 * something else. Stored gzip (level 0) keeps the compressed size equal too, so
 * the served blob has the right size and decompresses to a valid tar: only the
 * digest check can catch it.
 */
async function buildCorrupt(): Promise<BuiltTestImages['corrupt']> {
  const payload = (text: string): TarEntry[] => [{ type: 'file', path: 'payload', content: text }];
  const layer = await buildLayer(payload('genuine content\n'), { gzipLevel: 0, createdBy: 'corrupt: payload' });
  const servedBytes = await compress(tarArchive(payload('altered content\n')), 'gzip', 0);
  if (servedBytes.length !== layer.size) throw new Error('the tampered corrupt layer must keep the genuine size');
  return { image: buildImage({ layers: [layer] }), servedBytes, servedDigest: sha256Digest(servedBytes) };
}

// The multilayer image. Layer 1 lays out a tree; layer 2 deletes a file with a
// whiteout, makes `data` opaque and rewrites a file; layer 3 (uncompressed)
// deletes a whole directory and turns a file into a directory.

const MULTILAYER_LAYER_1: TarEntry[] = [
  { type: 'dir', path: 'bin/' },
  { type: 'file', path: 'bin/setuid-tool', mode: 0o4755, content: '#!/bin/sh\necho setuid\n' },
  { type: 'dir', path: 'data/' },
  { type: 'file', path: 'data/old-a', content: 'a\n' },
  { type: 'dir', path: 'data/sub/' },
  { type: 'file', path: 'data/sub/old-b', content: 'b\n' },
  { type: 'dir', path: 'doomed/' },
  { type: 'file', path: 'doomed/inner', content: 'inner\n' },
  { type: 'dir', path: 'doomed/deeper/' },
  { type: 'file', path: 'doomed/deeper/file', content: 'deep\n' },
  { type: 'dir', path: 'etc/' },
  { type: 'file', path: 'etc/config', content: 'version=1\n' },
  { type: 'file', path: 'etc/remove-me', content: 'to be deleted\n' },
  { type: 'dir', path: 'home/' },
  { type: 'dir', path: 'home/user/', mode: 0o750, uid: 1000, gid: 1000 },
  { type: 'file', path: 'home/user/owned', mode: 0o640, uid: 1000, gid: 1000, content: 'user data\n' },
  { type: 'dir', path: 'links/' },
  { type: 'file', path: 'links/original', content: 'linked content\n' },
  { type: 'hardlink', path: 'links/hardlink', target: 'links/original' },
  { type: 'symlink', path: 'links/relative', target: 'original' },
  { type: 'symlink', path: 'links/absolute', target: '/etc/config' },
  { type: 'dir', path: 'run/' },
  { type: 'fifo', path: 'run/pipe', mode: 0o620 },
  { type: 'file', path: 'swap', content: 'a file that becomes a directory\n' },
  { type: 'file', path: 'xattr-file', content: 'has an xattr\n', xattrs: { 'user.crion.test': 'layer-one' } },
];

const MULTILAYER_LAYER_2: TarEntry[] = [
  { type: 'dir', path: 'data/' },
  { type: 'file', path: 'data/.wh..wh..opq' },
  { type: 'file', path: 'data/new-c', content: 'c\n' },
  { type: 'dir', path: 'etc/' },
  { type: 'file', path: 'etc/.wh.remove-me' },
  { type: 'file', path: 'etc/config', content: 'version=2\n' },
];

const MULTILAYER_LAYER_3: TarEntry[] = [
  { type: 'file', path: '.wh.doomed' },
  { type: 'dir', path: 'home/user/', mode: 0o750, uid: 1000, gid: 1000 },
  { type: 'file', path: 'home/user/added-later', mode: 0o600, uid: 1000, gid: 1000, content: 'second layer of user data\n' },
  { type: 'dir', path: 'swap/' },
  { type: 'file', path: 'swap/inside', content: 'now a directory\n' },
];

const dir = (mode = 0o755, uid = 0, gid = 0): ExpectedNode => ({ type: 'dir', mode, uid, gid });
const file = (content: string, mode = 0o644, uid = 0, gid = 0): ExpectedNode & { type: 'file' } => ({ type: 'file', mode, uid, gid, content });

const MULTILAYER_TREE: ExpectedTree = {
  bin: dir(),
  'bin/setuid-tool': file('#!/bin/sh\necho setuid\n', 0o4755),
  data: dir(),
  'data/new-c': file('c\n'),
  etc: dir(),
  'etc/config': file('version=2\n'),
  home: dir(),
  'home/user': dir(0o750, 1000, 1000),
  'home/user/owned': file('user data\n', 0o640, 1000, 1000),
  'home/user/added-later': file('second layer of user data\n', 0o600, 1000, 1000),
  links: dir(),
  'links/original': file('linked content\n'),
  'links/hardlink': { ...file('linked content\n'), hardLinkOf: 'links/original' },
  'links/relative': { type: 'symlink', target: 'original', uid: 0, gid: 0 },
  'links/absolute': { type: 'symlink', target: '/etc/config', uid: 0, gid: 0 },
  run: dir(),
  'run/pipe': { type: 'fifo', mode: 0o620, uid: 0, gid: 0 },
  swap: dir(),
  'swap/inside': file('now a directory\n'),
  'xattr-file': { ...file('has an xattr\n'), xattrs: { 'user.crion.test': 'layer-one' } },
};

const MULTILAYER_DELETED = ['data/old-a', 'data/sub', 'doomed', 'etc/remove-me'];

/** The multilayer image's layers as entries, for checking MULTILAYER_TREE against a model of layer application. */
export const MULTILAYER_ENTRIES: readonly (readonly TarEntry[])[] = [MULTILAYER_LAYER_1, MULTILAYER_LAYER_2, MULTILAYER_LAYER_3];
