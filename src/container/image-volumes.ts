import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { resolveInRoot } from '../fs/resolve-in-root.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { ImageManager } from '../image/image-manager.js';
import type { ImageRecord } from '../image/image-store.js';
import type { LayerStore } from '../image/layer-store.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { ContainerHost } from './container-host.js';

/**
 * Image volumes (KEP-4639): a CRI mount whose `image` is set shows that
 * image's files, read-only, at its container path. Each is an overlay of the
 * image's layers with no upper directory (a single layer, which overlay
 * refuses without one, a read-only bind of it), mounted at
 * `state/c/<id>/volumes/<mount index>` where the container's removal and the
 * orphan cleanup after a crash find it; the OCI spec binds it, or the
 * resolved `image_sub_path` inside it, into the container (src/oci/mounts.ts).
 * The container holds the image's layers as it holds its own image's, so
 * removing the image meanwhile takes nothing from under the mount.
 */

/** An image mount of a CreateContainer request, checked, with its image found. */
export interface ImageVolumeRequest {
  /** Its place in the request's `mounts`. */
  readonly index: number;
  readonly image: ImageRecord;
  readonly subPath: string;
}

/** What the container's record keeps of an image volume: what its status reports and what it holds. */
export interface ImageVolume {
  readonly index: number;
  readonly imageId: string;
  readonly layers: readonly string[];
}

const VOLUMES_DIR = 'volumes';

/**
 * The request's image mounts, checked before anything is made: read-only
 * (the kubelet always asks so; a writable image volume has no meaning yet),
 * no host path beside the image, the image in the store (NOT_FOUND as for a
 * container's own image).
 */
export function imageVolumeRequests(mounts: readonly Mount__Output[], images: Pick<ImageManager, 'find'>): ImageVolumeRequest[] {
  const requests: ImageVolumeRequest[] = [];
  mounts.forEach((mount, index) => {
    if (mount.image === null) return;
    const field = `mounts[${index}]`;
    if (!mount.readonly) throw new InvalidArgumentError(`${field}.readonly must be set: an image volume is read-only`);
    if (mount.hostPath !== '') throw new InvalidArgumentError(`${field}: host_path and image exclude each other`);
    const name = mount.image.image;
    if (name === '') throw new InvalidArgumentError(`${field}.image.image must name an image`);
    const image = images.find(name);
    if (!image) throw new NotFoundError(`${field}.image: image "${name}" not found; pull it first`);
    requests.push({ index, image, subPath: mount.imageSubPath });
  });
  return requests;
}

export interface ImageVolumeDeps {
  readonly layers: Pick<LayerStore, 'lowerDirs' | 'overlayDir'>;
  readonly containerHost: Pick<ContainerHost, 'mountRootfs' | 'unmountRootfs'>;
}

/**
 * Mounts each requested image below the container's runtime directory, each
 * unmount on the cleanup stack, and resolves its sub-path inside it.
 * Returns, by mount index, the host path the OCI spec binds.
 */
export async function mountImageVolumes(
  deps: ImageVolumeDeps,
  runtimeDir: string,
  requests: readonly ImageVolumeRequest[],
  cleanup: CleanupStack,
): Promise<Map<number, string>> {
  const sources = new Map<number, string>();
  for (const { index, image, subPath } of requests) {
    const target = path.join(runtimeDir, VOLUMES_DIR, String(index));
    await mkdir(target, { recursive: true, mode: 0o755 });
    await deps.containerHost.mountRootfs({
      target,
      lowerDirs: deps.layers.lowerDirs(image.layers),
      upperDir: null,
      workDir: null,
      cwd: deps.layers.overlayDir,
      readonly: true,
    });
    cleanup.push(`unmount the image volume of mounts[${index}]`, () => deps.containerHost.unmountRootfs(target));
    sources.set(index, await subPathSource(target, subPath, index, image));
  }
  return sources;
}

async function subPathSource(root: string, subPath: string, index: number, image: ImageRecord): Promise<string> {
  const field = `mounts[${index}].image_sub_path "${subPath}"`;
  const resolved = await resolveInRoot(root, subPath);
  switch (resolved.kind) {
    case 'found':
      return resolved.path;
    case 'escapes':
      throw new InvalidArgumentError(`${field} leads out of the image`);
    case 'too-many-links':
      throw new InvalidArgumentError(`${field} goes through too many symbolic links`);
    case 'missing':
      throw new NotFoundError(`${field}: ${resolved.missing} does not exist in image ${image.id}`);
  }
}

/** Unmounts every image volume below a container's runtime directory; none, or no such directory, is fine. */
export async function unmountImageVolumes(containerHost: Pick<ContainerHost, 'unmountRootfs'>, runtimeDir: string): Promise<void> {
  const dir = path.join(runtimeDir, VOLUMES_DIR);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const name of names) await containerHost.unmountRootfs(path.join(dir, name));
}

/** The record's part, from what was mounted. */
export function imageVolumesOf(requests: readonly ImageVolumeRequest[]): ImageVolume[] {
  return requests.map(({ index, image }) => ({ index, imageId: image.id, layers: image.layers }));
}
