/**
 * What a test needs to know about an image after pushing it: the references to
 * pull, and every digest and size a runtime should report or verify. Shared by
 * the crion test images and the critest stand-ins.
 */

import type { BuiltArtifact, BuiltImage, BuiltIndex, ContainerConfig, Platform } from './oci-image-builder.js';
import { hostPlatform, samePlatform } from './oci-image-builder.js';
import type { Registry } from './registry.js';

export interface PublishedLayer {
  mediaType: string;
  /** Digest and size of the blob as served (compressed). */
  digest: string;
  size: number;
  /** Digest and size of the uncompressed tar. */
  diffId: string;
  uncompressedSize: number;
}

export interface PublishedImage {
  kind: 'image';
  /** `127.0.0.1:PORT/crion-test/busybox:latest`; by digest for an index's children. */
  reference: string;
  /** `127.0.0.1:PORT/crion-test/busybox@sha256:…`: the repo digest a runtime reports. */
  digestReference: string;
  repository: string;
  /** Null for an index's children, which have no tag of their own. */
  tag: string | null;
  manifestDigest: string;
  manifestMediaType: string;
  manifestSize: number;
  /** The config blob's digest: the image ID. */
  configDigest: string;
  configMediaType: string;
  configSize: number;
  platform: Platform;
  /** The image config's `config` (User, Env, Entrypoint, Cmd, Labels …) as pushed. */
  config: ContainerConfig;
  layers: PublishedLayer[];
  /** Sum of the layer blob sizes. */
  layersSize: number;
}

export interface PublishedIndex {
  kind: 'index';
  reference: string;
  digestReference: string;
  repository: string;
  tag: string;
  /** Digest of the OCI index or Docker manifest list. */
  indexDigest: string;
  indexMediaType: string;
  indexSize: number;
  /** One per platform, in the index's order. */
  images: PublishedImage[];
  /** The entry a runtime on this host must choose. */
  selected: PublishedImage;
}

/** Pushes an image or index under `repository:tag` (and any extra tags) and describes it. */
export async function publish(registry: Registry, repository: string, tags: Tags, artifact: BuiltImage): Promise<PublishedImage>;
export async function publish(registry: Registry, repository: string, tags: Tags, artifact: BuiltIndex): Promise<PublishedIndex>;
export async function publish(registry: Registry, repository: string, tags: Tags, artifact: BuiltArtifact): Promise<PublishedImage | PublishedIndex> {
  await registry.client().push(repository, tags, artifact);
  const tag = tags[0];
  if (artifact.kind === 'image') return describeImage(registry, repository, tag, artifact);
  const images = artifact.images.map((image) => describeImage(registry, repository, null, image));
  const host = hostPlatform();
  const selected = images.find((image) => samePlatform(image.platform, host));
  if (selected === undefined) throw new Error(`${repository}:${tag} has no image for this host's platform ${JSON.stringify(host)}`);
  return {
    kind: 'index',
    reference: `${registry.host}/${repository}:${tag}`,
    digestReference: `${registry.host}/${repository}@${artifact.index.digest}`,
    repository,
    tag,
    indexDigest: artifact.index.digest,
    indexMediaType: artifact.index.mediaType,
    indexSize: artifact.index.size,
    images,
    selected,
  };
}

/** The first tag names the image in the returned references. */
type Tags = readonly [string, ...string[]];

function describeImage(registry: Registry, repository: string, tag: string | null, image: BuiltImage): PublishedImage {
  const digestReference = `${registry.host}/${repository}@${image.manifest.digest}`;
  return {
    kind: 'image',
    reference: tag === null ? digestReference : `${registry.host}/${repository}:${tag}`,
    digestReference,
    repository,
    tag,
    manifestDigest: image.manifest.digest,
    manifestMediaType: image.manifest.mediaType,
    manifestSize: image.manifest.size,
    configDigest: image.config.digest,
    configMediaType: image.config.mediaType,
    configSize: image.config.size,
    platform: image.platform,
    config: image.containerConfig,
    layers: image.layers.map(({ mediaType, digest, size, diffId, uncompressedSize }) => ({ mediaType, digest, size, diffId, uncompressedSize })),
    layersSize: image.layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}
