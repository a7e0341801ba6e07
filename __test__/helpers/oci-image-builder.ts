/**
 * Builds container images for tests in memory: layer blobs from tar entries
 * (gzip, zstd or uncompressed), the image config, and the OCI or Docker schema 2
 * manifest and index that tie them together, with every digest and size a pull
 * test needs to check the result. The tests have no registry to pull real images
 * from, so every image they use is made here and pushed with registry-client.ts.
 *
 * Everything is deterministic (fixed mtimes and `created` dates, stable JSON), so
 * the same entries give the same digests on every run and every machine.
 */

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { tarArchive, type TarEntry } from './tar-writer.js';

export type Compression = 'gzip' | 'zstd' | 'none';
export type ManifestFormat = 'oci' | 'docker';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** A blob too big to keep in memory (the benchmark image's layers): pushed by streaming the file. */
export class BlobFile {
  constructor(readonly path: string) {}
}

export type BlobData = Buffer | BlobFile;

/** Anything a registry stores by digest: a layer, a config, a manifest. */
export interface Blob {
  mediaType: string;
  /** `sha256:<hex>` of `data`. */
  digest: string;
  size: number;
  data: BlobData;
}

/** A JSON document (config, manifest, index) with the exact bytes its digest covers. */
export interface JsonBlob extends Blob {
  data: Buffer;
}

export interface Layer {
  compression: Compression;
  /** Digest and size of the blob as stored in the registry (compressed). */
  digest: string;
  size: number;
  /** Digest and size of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: string;
  uncompressedSize: number;
  data: BlobData;
  /** The history entry's `created_by`, like the Dockerfile step that would have made it. */
  createdBy: string;
}

export interface LayerOptions {
  compression?: Compression;
  /** zlib level for gzip layers; 0 (stored) makes the size depend on the tar's length alone. */
  gzipLevel?: number;
  createdBy?: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The image config's `config` object: what a runtime reads to build the container's process. */
export interface ContainerConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
}

export interface ImageSpec {
  layers: readonly Layer[];
  config?: ContainerConfig;
  /** Defaults to linux/amd64. */
  platform?: Platform;
  /** Defaults to 'oci'. */
  format?: ManifestFormat;
}

/** A layer as one image's manifest lists it: the media type depends on the manifest format. */
export interface ImageLayer extends Layer {
  mediaType: string;
}

export interface BuiltImage {
  kind: 'image';
  format: ManifestFormat;
  platform: Platform;
  containerConfig: ContainerConfig;
  /** Its digest is the image ID runtimes report. */
  config: JsonBlob;
  manifest: JsonBlob;
  layers: ImageLayer[];
}

export interface BuiltIndex {
  kind: 'index';
  format: ManifestFormat;
  /** An OCI index or a Docker manifest list. */
  index: JsonBlob;
  images: BuiltImage[];
}

export type BuiltArtifact = BuiltImage | BuiltIndex;

/** The `created` date of every config and history entry, so that digests do not depend on the clock. */
const CREATED = '2024-01-01T00:00:00Z';

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A JSON blob whose digest covers exactly the serialised bytes a registry will store. */
export function jsonBlob(mediaType: string, value: unknown): JsonBlob {
  const data = Buffer.from(JSON.stringify(value));
  return { mediaType, digest: sha256Digest(data), size: data.length, data };
}

export async function buildLayer(entries: readonly TarEntry[], options: LayerOptions = {}): Promise<Layer> {
  const tar = tarArchive(entries);
  const compression = options.compression ?? 'gzip';
  const data = await compress(tar, compression, options.gzipLevel);
  return {
    compression,
    digest: sha256Digest(data),
    size: data.length,
    diffId: sha256Digest(tar),
    uncompressedSize: tar.length,
    data,
    createdBy: options.createdBy ?? `crion-test: ${entries.length} entries`,
  };
}

const gzip = promisify(zlib.gzip);

export async function compress(tar: Buffer, compression: Compression, gzipLevel?: number): Promise<Buffer> {
  switch (compression) {
    case 'none':
      return tar;
    case 'gzip':
      // Node writes mtime 0 and a fixed OS byte into the gzip header, so the output is reproducible.
      return gzip(tar, { level: gzipLevel ?? zlib.constants.Z_DEFAULT_COMPRESSION });
    case 'zstd':
      // node:zlib has zstd only from Node 22.15; the CLI is what Debian ships.
      return zstdCompress(tar);
  }
}

function zstdCompress(input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', (error) => reject(new Error(`cannot run zstd (apt-get install zstd): ${error.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`zstd exited ${code}: ${err}`));
    });
    child.stdin.end(input);
  });
}

export function layerMediaType(format: ManifestFormat, compression: Compression): string {
  if (format === 'oci') {
    return { none: MediaType.ociLayer, gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd }[compression];
  }
  if (compression === 'zstd') throw new Error('Docker schema 2 has no zstd layer media type; use an OCI manifest');
  return compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.dockerLayer;
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const format = spec.format ?? 'oci';
  const platform = spec.platform ?? DEFAULT_PLATFORM;
  const containerConfig = spec.config ?? {};
  const layers = spec.layers.map((layer) => ({ ...layer, mediaType: layerMediaType(format, layer.compression) }));
  const config = jsonBlob(format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig, {
    created: CREATED,
    architecture: platform.architecture,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    os: platform.os,
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((layer) => ({ created: CREATED, created_by: layer.createdBy })),
  });
  const manifest = jsonBlob(format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest, {
    schemaVersion: 2,
    mediaType: format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
    config: descriptor(config),
    layers: layers.map((layer) => descriptor(layer)),
  });
  return { kind: 'image', format, platform, containerConfig, config, manifest, layers };
}

/** An OCI index or Docker manifest list over images of the same format, one per platform. */
export function buildIndex(images: readonly BuiltImage[], format: ManifestFormat = 'oci'): BuiltIndex {
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  for (const image of images) {
    if (image.format !== format) throw new Error(`a ${format} index cannot list a ${image.format} manifest`);
  }
  const index = jsonBlob(mediaType, {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((image) => ({ ...descriptor(image.manifest), platform: image.platform })),
  });
  return { kind: 'index', format, index, images: [...images] };
}

function descriptor(blob: { mediaType: string; digest: string; size: number }): { mediaType: string; digest: string; size: number } {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
}

/** The platform a runtime on this host selects from an index. */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64' };
    case 'arm':
      return { os: 'linux', architecture: 'arm', variant: 'v7' };
    default:
      return { os: 'linux', architecture: process.arch };
  }
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}
