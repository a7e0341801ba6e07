import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { LayerUnpackError } from './layer-unpack-error.js';
import type { LayerUnpackRequest, LayerUnpackResult } from './layer-unpacker.js';
import { decompressZstd } from './zstd-decompress.js';

/**
 * The byte side of the TypeScript unpacker: reads the blob once, hashing
 * it, decompresses it, and hands the tar stream to `consume` while hashing
 * and counting it, refusing it (`too-large`) the moment it outgrows the
 * limit. Each stage pulls from the one before, so memory stays at a few
 * chunks whatever the layer's size. gzip inflates on libuv's thread pool,
 * zstd on this thread.
 */

export type LayerDigests = Omit<LayerUnpackResult, 'entries'>;

/** Large reads and inflate chunks keep per-chunk overhead (hashing, promises, writes) small. */
const READ_CHUNK = 1024 * 1024;
const INFLATE_CHUNK = 256 * 1024;

export async function readLayer(
  request: LayerUnpackRequest,
  consume: (tar: AsyncIterable<Buffer>) => Promise<void>,
  signal?: AbortSignal,
): Promise<LayerDigests> {
  const compressedHash = createHash('sha256');
  const diffIdHash = createHash('sha256');
  let compressedSize = 0;
  let uncompressedSize = 0;

  async function* measureCompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      compressedHash.update(chunk);
      compressedSize += chunk.length;
      yield chunk;
    }
  }
  async function* measureUncompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      uncompressedSize += chunk.length;
      if (uncompressedSize > request.maxUncompressedBytes) {
        throw new LayerUnpackError('too-large', `the layer inflates past ${request.maxUncompressedBytes} bytes (image.max_layer_bytes)`);
      }
      diffIdHash.update(chunk);
      yield chunk;
    }
  }
  // pipeline settles as soon as a stage fails; waiting for the consumer too
  // means nothing writes under the destination once this has rejected.
  let consuming: Promise<void> | undefined;
  const consumer = (source: AsyncIterable<Buffer>): Promise<void> => (consuming = consume(measureUncompressed(source)));

  const blob = createReadStream(request.blobPath, { highWaterMark: READ_CHUNK });
  try {
    switch (request.compression) {
      case 'gzip':
        await pipeline(blob, measureCompressed, createGunzip({ chunkSize: INFLATE_CHUNK }), consumer, { signal });
        break;
      case 'zstd':
        await pipeline(blob, measureCompressed, decompressZstd, consumer, { signal });
        break;
      case 'none':
        // The blob is the tar stream: one hash serves as both digests.
        await pipeline(blob, consumer, { signal });
        break;
      default:
        blob.destroy();
        throw new TypeError(`unknown layer compression ${JSON.stringify(request.compression satisfies never)}`);
    }
  } catch (error) {
    await consuming?.catch(() => undefined);
    throw isZlibError(error) ? new LayerUnpackError('corrupt', `gzip: ${error.message}`, { cause: error }) : error;
  }
  const diffId = `sha256:${diffIdHash.digest('hex')}`;
  return request.compression === 'none'
    ? { compressedDigest: diffId, diffId, compressedSize: uncompressedSize, uncompressedSize }
    : { compressedDigest: `sha256:${compressedHash.digest('hex')}`, diffId, compressedSize, uncompressedSize };
}

function isZlibError(error: unknown): error is Error {
  return error instanceof Error && /^Z_/.test(String((error as NodeJS.ErrnoException).code));
}
