import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../fs/atomic-write.js';
import type { Logger } from '../log/logger.js';
import type { LayerStore } from './layer-store.js';

/**
 * Image records: what the CRI reports about an image and which layers it
 * stands on. One directory per image ID (the config digest):
 *
 *   images/<id-hex>/config.json   the image config, byte for byte as pulled
 *   images/<id-hex>/image.json    the record, written last and atomically
 *
 * The record is written only after every layer is committed, so a crash
 * mid-pull leaves at most unreferenced layers, which the next start removes.
 * Names are canonical (`docker.io/library/busybox:latest`); a tag names one
 * image at a time, so tagging moves it.
 */

export interface ImageRecord {
  /** `sha256:` digest of the image config: what PullImage returns and containers report as image_id. */
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  /** Chain IDs, base layer first. */
  readonly layers: readonly string[];
  /** Bytes the image's layers take unpacked. */
  readonly size: number;
  /** `config.User` of the image config, verbatim. */
  readonly user: string;
  readonly pulledAt: string;
}

export interface NewImage {
  readonly id: string;
  readonly layers: readonly string[];
  readonly size: number;
  readonly user: string;
  readonly config: Uint8Array;
  readonly tag: string | null;
  readonly repoDigest: string | null;
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();
  /** Layers a pull in progress has committed but no image record names yet. */
  private readonly held = new Map<string, number>();
  /** Mutations run one at a time so the index and the disk never disagree. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly layers: LayerStore,
    private readonly log: Logger,
  ) {}

  /**
   * Loads the records; collects nothing. Layers no image names may still be
   * a container's rootfs (its image removed while it runs), so the caller
   * collects once every container has held its layers.
   */
  static async open(dir: string, layers: LayerStore, log: Logger): Promise<ImageStore> {
    const store = new ImageStore(dir, layers, log);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const imageDir = path.join(this.dir, name);
      let record: ImageRecord | null = null;
      try {
        record = JSON.parse(await readFile(path.join(imageDir, 'image.json'), 'utf8')) as ImageRecord;
      } catch {
        // No record: a pull that died before its end, or a removal that did; either way not an image.
      }
      const missing = record?.layers.filter((chainId) => !this.layers.get(chainId)) ?? [];
      if (record && missing.length === 0) {
        this.images.set(record.id, record);
      } else {
        if (record) this.log.warn({ image: record.id, missing }, 'removing an image whose layers are gone');
        await rm(imageDir, { recursive: true, force: true });
      }
    }
  }

  private serialized<T>(mutation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(mutation, mutation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  byTag(tag: string): ImageRecord | undefined {
    return this.list().find((image) => image.repoTags.includes(tag));
  }

  byRepoDigest(repoDigest: string): ImageRecord | undefined {
    return this.list().find((image) => image.repoDigests.includes(repoDigest));
  }

  /** IDs abbreviated as `crictl images` prints them; null when no image or more than one matches. */
  byIdPrefix(prefix: string): ImageRecord | undefined {
    const hex = hexOf(prefix);
    const matches = this.list().filter((image) => hexOf(image.id).startsWith(hex));
    return matches.length === 1 ? matches[0] : undefined;
  }

  async readConfig(id: string): Promise<Buffer> {
    return readFile(path.join(this.dir, hexOf(id), 'config.json'));
  }

  /** Records a pulled image, or adds the name it was pulled by to the image already there. */
  add(image: NewImage): Promise<ImageRecord> {
    return this.serialized(async () => {
      if (image.tag) await this.dropTag(image.tag, image.id);
      const existing = this.images.get(image.id);
      const record: ImageRecord = {
        id: image.id,
        layers: image.layers,
        size: image.size,
        user: image.user,
        repoTags: withName(existing?.repoTags, image.tag),
        repoDigests: withName(existing?.repoDigests, image.repoDigest),
        pulledAt: new Date().toISOString(),
      };
      const imageDir = path.join(this.dir, hexOf(image.id));
      await mkdir(imageDir, { recursive: true, mode: 0o700 });
      if (!existing) await writeFileAtomic(path.join(imageDir, 'config.json'), image.config);
      await this.save(record);
      return record;
    });
  }

  /** Removes one name of an image; the image goes when its last tag does. */
  untag(tag: string): Promise<void> {
    return this.serialized(() => this.dropTag(tag, null));
  }

  remove(id: string): Promise<void> {
    return this.serialized(async () => {
      if (!this.images.delete(id)) return;
      const doomed = path.join(this.dir, `.removed-${hexOf(id)}-${randomBytes(4).toString('hex')}`);
      await rename(path.join(this.dir, hexOf(id)), doomed);
      await rm(doomed, { recursive: true, force: true });
      await this.collectLayers();
    });
  }

  /** Moves `tag` off any image but `keepOn`; an image left without tags is removed, as CRI-O does. */
  private async dropTag(tag: string, keepOn: string | null): Promise<void> {
    const holder = this.byTag(tag);
    if (!holder || holder.id === keepOn) return;
    const repoTags = holder.repoTags.filter((name) => name !== tag);
    if (repoTags.length === 0 && keepOn === null) {
      this.images.delete(holder.id);
      await rm(path.join(this.dir, hexOf(holder.id)), { recursive: true, force: true });
      await this.collectLayers();
    } else {
      await this.save({ ...holder, repoTags });
    }
  }

  private async save(record: ImageRecord): Promise<void> {
    await writeFileAtomic(path.join(this.dir, hexOf(record.id), 'image.json'), JSON.stringify(record));
    this.images.set(record.id, record);
  }

  /** Keeps layers from collection until the returned release is called. */
  holdLayers(chainIds: readonly string[]): () => void {
    for (const chainId of chainIds) this.held.set(chainId, (this.held.get(chainId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const chainId of chainIds) {
        const count = (this.held.get(chainId) ?? 1) - 1;
        if (count === 0) this.held.delete(chainId);
        else this.held.set(chainId, count);
      }
    };
  }

  /** Removes the layers that no image uses and nothing holds (a pull, a container), e.g. after a failed pull or at start. */
  collectUnusedLayers(): Promise<void> {
    return this.serialized(() => this.collectLayers());
  }

  /** Layers no image stands on any more: left by a removal, or by a pull that crashed before its record. */
  private async collectLayers(): Promise<void> {
    const used = new Set(this.list().flatMap((image) => image.layers));
    for (const layer of this.layers.list()) {
      if (!used.has(layer.chainId) && !this.held.has(layer.chainId)) await this.layers.remove(layer.chainId);
    }
  }
}

function withName(names: readonly string[] | undefined, name: string | null): string[] {
  const all = [...(names ?? [])];
  if (name !== null && !all.includes(name)) all.push(name);
  return all;
}
