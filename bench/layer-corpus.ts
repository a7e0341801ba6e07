import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { buildBigImage } from '../__test__/helpers/big-image.js';
import { BlobFile } from '../__test__/helpers/oci-image-builder.js';
import type { LayerCompression } from '../src/image/unpack/index.js';

/**
 * The unpack benchmark's input: the layers of the pull benchmark's image
 * (`crion-test/big`, ~200 MiB uncompressed in 4 layers: 4 MiB random files
 * and thousands of 16 KiB text files), so both benchmarks measure the same
 * bytes. The image is gzip; the zstd twins are made from its tars with the
 * system `zstd` at its default level 3 (what BuildKit and containerd use)
 * and cached beside it, since compressing takes longer than a run.
 */

export interface CorpusLayer {
  readonly blobPath: string;
  readonly compression: LayerCompression;
  readonly blobSize: number;
  readonly diffId: string;
  readonly uncompressedSize: number;
}

export interface LayerCorpus {
  readonly gzip: readonly CorpusLayer[];
  readonly zstd: readonly CorpusLayer[];
  readonly uncompressedBytes: number;
}

const ZSTD_LEVEL = 3;

export async function loadLayerCorpus(cacheDir: string): Promise<LayerCorpus> {
  const image = await buildBigImage({ cacheDir });
  const gzip = image.layers.map((layer): CorpusLayer => {
    if (!(layer.data instanceof BlobFile) || layer.compression !== 'gzip') {
      throw new Error('the big image changed shape: expected its layers as cached gzip files');
    }
    return {
      blobPath: layer.data.path,
      compression: 'gzip',
      blobSize: layer.size,
      diffId: layer.diffId,
      uncompressedSize: layer.uncompressedSize,
    };
  });
  const zstdDir = path.join(cacheDir, `bench-zstd-${ZSTD_LEVEL}`);
  await mkdir(zstdDir, { recursive: true });
  const zstd: CorpusLayer[] = [];
  for (const layer of gzip) {
    const blobPath = path.join(zstdDir, `${layer.diffId.replace(':', '-')}.tar.zst`);
    const blobSize = (await sizeOf(blobPath)) ?? (await recompress(layer.blobPath, blobPath));
    zstd.push({ ...layer, blobPath, compression: 'zstd', blobSize });
  }
  return { gzip, zstd, uncompressedBytes: gzip.reduce((sum, layer) => sum + layer.uncompressedSize, 0) };
}

async function sizeOf(file: string): Promise<number | null> {
  return stat(file).then(
    (info) => info.size,
    () => null,
  );
}

/** Written under a temporary name and renamed, so a cached file is always a whole one. */
async function recompress(gzipPath: string, target: string): Promise<number> {
  const temporary = `${target}.${process.pid}.tmp`;
  const zstd = spawn('zstd', ['-q', `-${ZSTD_LEVEL}`, '-T0', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  zstd.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    zstd.on('error', (error) => reject(new Error(`cannot run zstd (apt-get install zstd): ${error.message}`)));
    zstd.on('close', resolve);
  });
  try {
    const [code] = await Promise.all([
      exited,
      pipeline(createReadStream(gzipPath), createGunzip(), zstd.stdin),
      pipeline(zstd.stdout, createWriteStream(temporary)),
    ]);
    if (code !== 0) throw new Error(`zstd exited ${code}: ${stderr}`);
    await rename(temporary, target);
  } catch (error) {
    zstd.kill('SIGKILL');
    await rm(temporary, { force: true });
    throw error;
  }
  return (await sizeOf(target))!;
}
