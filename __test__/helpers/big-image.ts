/**
 * `crion-test/big:latest`, the benchmark image: about 200 MiB of layer data in 4
 * gzip layers, half pseudo-random (incompressible, so it measures raw transfer
 * and hashing) and half text (compressible, so it measures inflate), in a few
 * big files and many small ones (so it measures per-file unpack cost too).
 *
 * Generating it takes seconds, so it is made on demand, never by the default
 * test run, and cached on disk: under $CRION_TEST_CACHE if set, else the OS temp
 * dir, keyed by its parameters. The content comes from a fixed seed, so every
 * machine builds the same digests.
 */

import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobFile, buildImage, buildLayer, type BuiltImage, type Layer } from './oci-image-builder.js';
import { publish, type PublishedImage } from './published-image.js';
import type { Registry } from './registry.js';
import type { TarEntry } from './tar-writer.js';

export const BIG_IMAGE_REPOSITORY = 'crion-test/big';

export interface BigImageOptions {
  /** Uncompressed file content across all layers; default 200 MiB. */
  totalBytes?: number;
  /** Default 4. */
  layers?: number;
  /** Different seeds make different digests; default 'crion-big-v1'. */
  seed?: string;
  /** Default $CRION_TEST_CACHE, else `<os temp dir>/crion-test-cache`. */
  cacheDir?: string;
}

const MiB = 1024 * 1024;
const RANDOM_FILE_BYTES = 4 * MiB;
const TEXT_FILE_BYTES = 16 * 1024;

/** Builds the image, or loads it from the cache when an earlier run built the same one. */
export async function buildBigImage(options: BigImageOptions = {}): Promise<BuiltImage> {
  const totalBytes = options.totalBytes ?? 200 * MiB;
  const layerCount = options.layers ?? 4;
  const seed = options.seed ?? 'crion-big-v1';
  const root = options.cacheDir ?? process.env.CRION_TEST_CACHE ?? path.join(os.tmpdir(), 'crion-test-cache');
  const key = createHash('sha256')
    .update(JSON.stringify({ totalBytes, layerCount, seed, format: 1 }))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(root, `big-${key}`);
  const layers = (await loadCached(dir)) ?? (await generate(dir, totalBytes, layerCount, seed));
  return buildImage({
    layers,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
      Labels: { 'io.crion.test': 'big', 'io.crion.test.seed': seed },
    },
  });
}

export async function publishBigImage(registry: Registry, options: BigImageOptions = {}): Promise<PublishedImage> {
  return publish(registry, BIG_IMAGE_REPOSITORY, ['latest'], await buildBigImage(options));
}

/** Layer metadata as cached; `data` is the blob file's name in the cache directory. */
type CachedLayer = Omit<Layer, 'data'> & { file: string };

const INDEX = 'layers.json';

async function loadCached(dir: string): Promise<Layer[] | null> {
  let cached: CachedLayer[];
  try {
    cached = JSON.parse(await readFile(path.join(dir, INDEX), 'utf8')) as CachedLayer[];
  } catch {
    return null;
  }
  const layers: Layer[] = [];
  for (const { file, ...layer } of cached) {
    const blobPath = path.join(dir, file);
    // A truncated or deleted blob means a rebuild, not a push that fails its digest.
    const size = await stat(blobPath).then(
      (info) => info.size,
      () => -1,
    );
    if (size !== layer.size) return null;
    layers.push({ ...layer, data: new BlobFile(blobPath) });
  }
  return layers;
}

/** Builds one layer at a time, so memory holds one layer (tar and compressed) at most. */
async function generate(dir: string, totalBytes: number, layerCount: number, seed: string): Promise<Layer[]> {
  await mkdir(dir, { recursive: true });
  const layers: Layer[] = [];
  const cached: CachedLayer[] = [];
  for (let index = 0; index < layerCount; index++) {
    const built = await buildLayer(layerEntries(seed, index, Math.floor(totalBytes / layerCount)), {
      createdBy: `big: layer ${index + 1} of ${layerCount}`,
    });
    const file = `${built.digest.replace(':', '-')}.tar.gz`;
    await writeAtomically(path.join(dir, file), built.data as Buffer);
    const { data: _data, ...metadata } = built;
    cached.push({ ...metadata, file });
    layers.push({ ...metadata, data: new BlobFile(path.join(dir, file)) });
  }
  // Written last: its presence says every blob before it is complete.
  await writeAtomically(path.join(dir, INDEX), Buffer.from(JSON.stringify(cached, null, 2)));
  return layers;
}

async function writeAtomically(target: string, data: Buffer): Promise<void> {
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, target);
}

function layerEntries(seed: string, index: number, layerBytes: number): TarEntry[] {
  const top = `big/layer-${index + 1}`;
  const entries: TarEntry[] = [
    { type: 'dir', path: 'big/' },
    { type: 'dir', path: `${top}/` },
    { type: 'dir', path: `${top}/text/` },
  ];
  const randomBytes = Math.floor(layerBytes / 2);
  const random = keystream(`${seed}/${index}`, randomBytes);
  for (let offset = 0, n = 0; offset < randomBytes; offset += RANDOM_FILE_BYTES, n++) {
    entries.push({ type: 'file', path: `${top}/random-${n}.bin`, content: random.subarray(offset, offset + RANDOM_FILE_BYTES) });
  }
  for (let written = 0, n = 0; written < layerBytes - randomBytes; written += TEXT_FILE_BYTES, n++) {
    entries.push({
      type: 'file',
      path: `${top}/text/file-${n}.txt`,
      content: textFile(index, n, Math.min(TEXT_FILE_BYTES, layerBytes - randomBytes - written)),
    });
  }
  return entries;
}

/** Deterministic pseudo-random bytes: AES-256-CTR over zeros, keyed by the seed (GB/s, unlike hashing in a loop). */
function keystream(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

function textFile(layer: number, file: number, size: number): string {
  const lines: string[] = [];
  let length = 0;
  for (let line = 0; length < size; line++) {
    const text = `layer ${layer} file ${file} line ${line}: the quick brown fox jumps over the lazy dog\n`;
    lines.push(text);
    length += text.length;
  }
  return lines.join('').slice(0, size);
}
