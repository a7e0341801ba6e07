import { FailedPreconditionError, NotFoundError } from '../errors.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import type { LayerStore } from './layer-store.js';
import { parseImageConfig, type ImageConfigFile } from './manifest.js';
import { parseReference, referenceName, referenceString, type ImageReference } from './reference.js';
import { shortNameCandidates, type RegistriesConfig } from './registries-conf.js';

/**
 * The image side of the runtime as the CRI sees it: find an image by any
 * name the kubelet or an operator may use, list, remove, report usage.
 * Pulling is the Puller's job; this module only records its result.
 */

export interface ImageManagerDeps {
  readonly images: ImageStore;
  readonly layers: LayerStore;
  readonly registries: RegistriesConfig;
  /** `image.pinned_images` plus the pause image: exact names, or prefixes ending in `*`. */
  readonly pinnedPatterns: () => readonly string[];
  /** The containers that run the image or mount it as a volume, whatever their state. */
  readonly containersUsing: (imageId: string) => readonly string[];
}

export interface ImageUser {
  readonly uid: number | null;
  readonly username: string;
}

export interface ImageFsUsage {
  readonly mountpoint: string;
  readonly bytes: number;
  readonly inodes: number;
}

const HEX_ID = /^(?:sha256:)?[a-f0-9]{64}$/;
/** Shorter prefixes collide with names such as "cafe"; twelve is what `crictl images` prints. */
const MIN_ID_PREFIX = 12;
const HEX_PREFIX = /^(?:sha256:)?[a-f0-9]+$/;

export class ImageManager {
  constructor(private readonly deps: ImageManagerDeps) {}

  /**
   * Looks an image up as ImageStatus, RemoveImage and container creation
   * must: by ID (full or a prefix of at least 12 digits), by repo tag or repo
   * digest, and by short name through the registries configuration.
   */
  find(name: string): ImageRecord | undefined {
    const { images } = this.deps;
    if (HEX_ID.test(name)) return images.get(name.startsWith('sha256:') ? name : `sha256:${name}`);
    const byName = this.candidateNames(name)
      .map((reference) =>
        reference.digest !== null
          ? (images.byRepoDigest(`${referenceName(reference)}@${reference.digest}`) ?? images.get(reference.digest))
          : images.byTag(referenceString(reference)),
      )
      .find((image) => image !== undefined);
    if (byName) return byName;
    return HEX_PREFIX.test(name) && name.replace('sha256:', '').length >= MIN_ID_PREFIX ? images.byIdPrefix(name) : undefined;
  }

  /** Names that cannot parse as references may still be ID prefixes, so parsing failures mean "no such name". */
  private candidateNames(name: string): ImageReference[] {
    let parsed;
    try {
      parsed = parseReference(name);
    } catch {
      return [];
    }
    return parsed.kind === 'qualified' ? [parsed.reference] : shortNameCandidates(this.deps.registries, parsed.name);
  }

  list(filter: string | null): ImageRecord[] {
    if (filter === null || filter === '') return this.deps.images.list();
    const image = this.find(filter);
    return image ? [image] : [];
  }

  /**
   * Idempotent, as CRI requires. By tag: that tag goes, and the image with
   * its last tag. By ID or digest: the image and every name it has. An image
   * a container runs or mounts as a volume stays until that container is
   * removed, as CRI-O keeps it: only a tag of it may go meanwhile.
   */
  async remove(name: string): Promise<void> {
    const image = this.find(name);
    if (!image) return;
    const tag = this.candidateNames(name)
      .filter((reference) => reference.digest === null)
      .map(referenceString)
      .find((candidate) => image.repoTags.includes(candidate));
    if (tag !== undefined && image.repoTags.length > 1) {
      await this.deps.images.untag(tag);
      return;
    }
    const users = this.deps.containersUsing(image.id);
    if (users.length > 0)
      throw new FailedPreconditionError(`image ${image.id} is in use by container ${users.join(', ')}; remove the container first`);
    await this.deps.images.remove(image.id);
  }

  isPinned(image: ImageRecord): boolean {
    return this.deps.pinnedPatterns().some((pattern) => image.repoTags.some((tag) => matchesPattern(tag, pattern)));
  }

  async config(image: ImageRecord): Promise<ImageConfigFile> {
    return parseImageConfig(await this.deps.images.readConfig(image.id));
  }

  async configBytes(image: ImageRecord): Promise<Buffer> {
    return this.deps.images.readConfig(image.id);
  }

  /**
   * Keeps an image's layers while a container stands on them, even if the
   * image itself is removed meanwhile; the release collects what no image
   * or container needs any more.
   */
  holdLayers(chainIds: readonly string[]): () => Promise<void> {
    const release = this.deps.images.holdLayers(chainIds);
    return async () => {
      release();
      await this.deps.images.collectUnusedLayers();
    };
  }

  fsUsage(): ImageFsUsage {
    return { mountpoint: this.deps.layers.overlayDir, ...this.deps.layers.usage() };
  }

  require(name: string): ImageRecord {
    const image = this.find(name);
    if (!image) throw new NotFoundError(`image "${name}" not found`);
    return image;
  }
}

/** A pattern is an exact name (normalized like any reference) or a prefix ending in `*`. */
function matchesPattern(tag: string, pattern: string): boolean {
  if (pattern.endsWith('*')) return tag.startsWith(pattern.slice(0, -1));
  try {
    const parsed = parseReference(pattern);
    return parsed.kind === 'qualified' && referenceString(parsed.reference) === tag;
  } catch {
    return false;
  }
}

/**
 * CRI reports an image's user as a uid when `config.User` starts with a
 * number and as a name otherwise; a group after `:` is not part of either.
 */
export function imageUser(configUser: string): ImageUser {
  const user = configUser.split(':')[0] ?? '';
  if (/^\d+$/.test(user)) return { uid: Number(user), username: '' };
  return { uid: null, username: user };
}
