import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { diskUsage } from '../fs/disk-usage.js';
import type { Logger } from '../log/logger.js';

/**
 * Unpacked image layers, one overlay "diff" directory per chain ID, so a
 * layer shared by many images is stored once.
 *
 *   overlay/layers/<chain-id-hex>/diff        the layer's files
 *   overlay/layers/<chain-id-hex>/layer.json  written last: its presence means complete
 *   overlay/l/<short>  -> ../layers/<hex>/diff
 *   overlay/staging/<random>/                 layers being downloaded and unpacked
 *
 * The short links keep overlay's lowerdir option short: mount(2) options are
 * capped at one page, which 64-character IDs would exhaust at about 36
 * layers. A layer becomes visible by one rename of its finished staging
 * directory, so a crash never leaves a layer that looks complete; whatever
 * is left in staging/ is removed at the next start.
 */

export interface LayerRecord {
  readonly chainId: string;
  readonly diffId: string;
  /** The chain ID of the layer below, null for a base layer. */
  readonly parent: string | null;
  /** Name under overlay/l/. */
  readonly link: string;
  readonly compressedDigest: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Space and inodes the diff directory takes, counted once at commit: layers never change after. */
  readonly diskBytes: number;
  readonly inodes: number;
  readonly createdAt: string;
}

export interface UnpackedLayer {
  readonly diffId: string;
  readonly parent: string | null;
  readonly compressedDigest: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
}

/** A layer being made: the downloader writes `blobPath`, the unpacker fills `diffDir`. */
export interface LayerStaging {
  readonly blobPath: string;
  readonly diffDir: string;
  /** Publishes the layer under its chain ID; a concurrent commit of the same layer wins and this one is dropped. */
  commit(layer: UnpackedLayer): Promise<LayerRecord>;
  discard(): Promise<void>;
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)), as the OCI image spec defines. */
export function chainIds(diffIds: readonly string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const parent = chain.at(-1);
    chain.push(parent === undefined ? diffId : `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`);
  }
  return chain;
}

const LINK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LINK_LENGTH = 26;

function newLinkName(): string {
  return Array.from(randomBytes(LINK_LENGTH), (byte) => LINK_ALPHABET[byte % LINK_ALPHABET.length]).join('');
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export class LayerStore {
  private readonly layers = new Map<string, LayerRecord>();

  private constructor(
    /** The overlay directory; lower dirs are given relative to it. */
    readonly overlayDir: string,
    private readonly log: Logger,
  ) {}

  static async open(overlayDir: string, log: Logger): Promise<LayerStore> {
    const store = new LayerStore(overlayDir, log);
    await store.recover();
    return store;
  }

  private get layersDir(): string {
    return path.join(this.overlayDir, 'layers');
  }

  private get linksDir(): string {
    return path.join(this.overlayDir, 'l');
  }

  private get stagingDir(): string {
    return path.join(this.overlayDir, 'staging');
  }

  private async recover(): Promise<void> {
    await rm(this.stagingDir, { recursive: true, force: true });
    await Promise.all([this.layersDir, this.linksDir, this.stagingDir].map((dir) => mkdir(dir, { recursive: true, mode: 0o700 })));
    for (const name of await readdir(this.layersDir)) {
      const dir = path.join(this.layersDir, name);
      try {
        const record = JSON.parse(await readFile(path.join(dir, 'layer.json'), 'utf8')) as LayerRecord;
        this.layers.set(record.chainId, record);
      } catch (error) {
        // Only a rename publishes a layer, so this is damage from outside crion; drop it rather than mount it.
        this.log.warn({ layer: name, err: error }, 'removing a layer directory without readable metadata');
        await rm(dir, { recursive: true, force: true });
      }
    }
    await this.repairLinks();
  }

  /** A crash between the publishing rename and the link leaves a layer without its short name. */
  private async repairLinks(): Promise<void> {
    const wanted = new Map([...this.layers.values()].map((layer) => [layer.link, layer]));
    for (const name of await readdir(this.linksDir)) {
      const layer = wanted.get(name);
      if (layer && (await readlink(path.join(this.linksDir, name))) === this.linkTarget(layer.chainId)) {
        wanted.delete(name);
      } else {
        await rm(path.join(this.linksDir, name), { force: true });
      }
    }
    for (const layer of wanted.values()) await symlink(this.linkTarget(layer.chainId), path.join(this.linksDir, layer.link));
  }

  private linkTarget(chainId: string): string {
    return path.join('..', 'layers', hexOf(chainId), 'diff');
  }

  get(chainId: string): LayerRecord | undefined {
    return this.layers.get(chainId);
  }

  list(): LayerRecord[] {
    return [...this.layers.values()];
  }

  diffPath(chainId: string): string {
    return path.join(this.layersDir, hexOf(chainId), 'diff');
  }

  /** Overlay lower dirs, top layer first as overlayfs wants them, relative to overlayDir. */
  lowerDirs(chainIdsBottomUp: readonly string[]): string[] {
    return chainIdsBottomUp.toReversed().map((chainId) => {
      const layer = this.layers.get(chainId);
      if (!layer) throw new Error(`layer ${chainId} is not in the store`);
      return path.join('l', layer.link);
    });
  }

  async stage(): Promise<LayerStaging> {
    const dir = path.join(this.stagingDir, randomBytes(8).toString('hex'));
    const diffDir = path.join(dir, 'diff');
    await mkdir(diffDir, { recursive: true, mode: 0o755 });
    const discard = () => rm(dir, { recursive: true, force: true });
    return {
      blobPath: path.join(dir, 'blob'),
      diffDir,
      discard,
      commit: async (layer) => {
        const chainId = chainIds([...(layer.parent ? [layer.parent] : []), layer.diffId]).at(-1)!;
        const existing = this.layers.get(chainId);
        if (existing) {
          // The puller shares in-flight layers, so this is a second image racing for the same layer; keep the first.
          await discard();
          return existing;
        }
        await rm(path.join(dir, 'blob'), { force: true });
        const usage = await diskUsage(diffDir);
        const record: LayerRecord = {
          chainId,
          ...layer,
          link: newLinkName(),
          diskBytes: usage.bytes,
          inodes: usage.inodes,
          createdAt: new Date().toISOString(),
        };
        await writeFileAtomic(path.join(dir, 'layer.json'), JSON.stringify(record));
        await rename(dir, path.join(this.layersDir, hexOf(chainId)));
        await symlink(this.linkTarget(chainId), path.join(this.linksDir, record.link));
        this.layers.set(chainId, record);
        this.log.debug({ chainId, diffId: layer.diffId, bytes: usage.bytes }, 'layer committed');
        return record;
      },
    };
  }

  /** Removes a layer; the caller has made sure no image or container uses it. */
  async remove(chainId: string): Promise<void> {
    const layer = this.layers.get(chainId);
    if (!layer) return;
    this.layers.delete(chainId);
    await rm(path.join(this.linksDir, layer.link), { force: true });
    // Renaming first makes the removal atomic for a restart: a half-deleted layer is never loaded.
    const doomed = path.join(this.stagingDir, `removed-${hexOf(chainId)}-${randomBytes(4).toString('hex')}`);
    await rename(path.join(this.layersDir, hexOf(chainId)), doomed);
    await rm(doomed, { recursive: true, force: true });
  }

  usage(): { bytes: number; inodes: number } {
    let bytes = 0;
    let inodes = 0;
    for (const layer of this.layers.values()) {
      bytes += layer.diskBytes;
      inodes += layer.inodes;
    }
    return { bytes, inodes };
  }
}
