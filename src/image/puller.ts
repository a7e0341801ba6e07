import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Limiter } from '../concurrency/limiter.js';
import { SharedWork } from '../concurrency/shared-work.js';
import { CrionError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { resolveCredentials, type AuthFile, type CriAuthConfig } from './auth.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import { chainIds, type LayerRecord, type LayerStore } from './layer-store.js';
import { layerCompression, parseImageConfig, selectPlatform, type Descriptor, type ImageManifest } from './manifest.js';
import type { PullProgressBoard, PullReporter } from './pull-progress.js';
import { parseReference, referenceName, referenceString } from './reference.js';
import { resolvePullCandidates, type PullCandidate, type RegistriesConfig } from './registries-conf.js';
import type { RegistryCall, RegistryClient } from './registry-client.js';
import { LayerUnpackError, type LayerRejection } from './unpack/layer-unpack-error.js';
import type { LayerUnpacker } from './unpack/layer-unpacker.js';

/**
 * PullImage: resolve the name through the registries configuration, fetch
 * the manifest (choosing this platform from an index), then every layer the
 * store lacks, downloaded concurrently and unpacked as each arrives, and
 * record the image once all its layers are committed.
 *
 * Identical work is shared: two pulls of one name are one pull, and a layer
 * two images need at once is fetched once. A pull lasts as long as someone
 * waits for it: when its last caller gives up (a cancelled call, a passed
 * deadline) it is cancelled and undoes what it did, and a layer goes on
 * while another pull still needs it. Otherwise a pull against a stalling
 * registry would hold a download slot and staging space through every
 * stall timeout and retry, for an answer nobody reads.
 */

/** What the puller needs of the registry client; tests give it a fake. */
export type PullerRegistry = Pick<RegistryClient, 'getManifest' | 'fetchBlob'>;

/** Why a pull failed, in few enough words to be a metric label: the error's kind, or a refused layer's reason. */
export type PullFailureReason = CrionError['kind'] | LayerRejection | 'internal';

/**
 * Told how each pull went (the metrics). A pull shared by several callers
 * is one pull; a layer another pull is already fetching is neither reused
 * nor fetched by the one that joins it, so the node's downloads add up.
 */
export interface PullObserver {
  /** A layer the store already held. */
  layerReused(): void;
  /** A layer downloaded and committed; `bytes` as the registry sent them (compressed). */
  layerFetched(bytes: number): void;
  succeeded(seconds: number): void;
  failed(reason: PullFailureReason): void;
}

export const NO_PULL_OBSERVER: PullObserver = {
  layerReused: () => undefined,
  layerFetched: () => undefined,
  succeeded: () => undefined,
  failed: () => undefined,
};

export interface PullerDeps {
  readonly client: PullerRegistry;
  readonly registries: RegistriesConfig;
  readonly authFile: AuthFile;
  readonly layers: LayerStore;
  readonly images: ImageStore;
  readonly unpack: LayerUnpacker;
  readonly progress: PullProgressBoard;
  readonly maxConcurrentDownloads: number;
  readonly maxLayerBytes: number;
  readonly log: Logger;
  /** NO_PULL_OBSERVER by default. */
  readonly observer?: PullObserver;
}

export class Puller {
  private readonly downloads: Limiter;
  /** Unpacking is CPU-bound: more at once than cores only adds contention. */
  private readonly unpacks = new Limiter(availableParallelism());
  private readonly pulls = new SharedWork<ImageRecord>();
  private readonly layerWork = new SharedWork<LayerRecord>();
  private readonly observer: PullObserver;

  constructor(private readonly deps: PullerDeps) {
    this.downloads = new Limiter(deps.maxConcurrentDownloads);
    this.observer = deps.observer ?? NO_PULL_OBSERVER;
  }

  /**
   * `signal` is the caller's: once it aborts, the caller is answered with its
   * reason, and the pull is cancelled if no other caller waits for it. A
   * caller without one (the daemon's own pull of the pause image) stays.
   */
  pull(name: string, auth: CriAuthConfig | null, signal?: AbortSignal): Promise<ImageRecord> {
    // Credentials are part of the key: a pull must not succeed on someone else's password.
    const key = JSON.stringify([name, auth]);
    return this.pulls.run(key, (pullSignal) => this.pullOnce(name, auth, pullSignal), signal);
  }

  private async pullOnce(name: string, auth: CriAuthConfig | null, signal: AbortSignal): Promise<ImageRecord> {
    const reporter = this.deps.progress.start(name);
    const started = process.hrtime.bigint();
    try {
      const image = await this.pullFromCandidates(name, auth, reporter, signal);
      reporter.finished(image.id);
      this.observer.succeeded(Number(process.hrtime.bigint() - started) / 1e9);
      return image;
    } catch (error) {
      this.observer.failed(signal.aborted ? 'cancelled' : pullFailureReason(error));
      if (signal.aborted) {
        reporter.failed('cancelled: no caller waits for it');
        const reason = (signal.reason as Error | undefined)?.message;
        this.deps.log.info({ image: name, reason }, 'pull cancelled: no caller waits for it');
      } else {
        reporter.failed(error instanceof Error ? error.message : String(error));
      }
      throw error;
    }
  }

  /** Mirrors first, then the origin; a registry that lacks the image or fails hands over to the next. */
  private async pullFromCandidates(name: string, auth: CriAuthConfig | null, reporter: PullReporter, signal: AbortSignal): Promise<ImageRecord> {
    const candidates = resolvePullCandidates(this.deps.registries, parseReference(name));
    const failures: Array<{ candidate: PullCandidate; error: unknown }> = [];
    for (const candidate of candidates) {
      const call: RegistryCall = {
        credentials: resolveCredentials(auth, this.deps.authFile, candidate.reference.registry, candidate.reference.repository),
        signal,
      };
      let resolved;
      try {
        resolved = await this.resolveManifest(candidate, call);
      } catch (error) {
        // A cancelled pull has no reason to ask the next endpoint.
        if (signal.aborted) throw signal.reason;
        this.deps.log.debug({ endpoint: referenceString(candidate.reference), err: error }, 'pull candidate failed');
        failures.push({ candidate, error });
        continue;
      }
      // Past the manifest, the image is this endpoint's: a failure now is the pull's, not a reason to go elsewhere.
      return this.pullImage(candidate, call, resolved, reporter);
    }
    throw pullFailure(name, failures);
  }

  private async resolveManifest(candidate: PullCandidate, call: RegistryCall): Promise<{ manifest: ImageManifest; repoDigest: string }> {
    const top = await this.deps.client.getManifest(candidate, call);
    const repoDigest = `${referenceName(candidate.canonical)}@${top.digest}`;
    if (top.parsed.kind === 'manifest') return { manifest: top.parsed, repoDigest };
    const chosen = await this.deps.client.getManifest(candidate, { ...call, digest: selectPlatform(top.parsed).digest });
    if (chosen.parsed.kind !== 'manifest') {
      throw new InvalidArgumentError(`${referenceString(candidate.reference)}: an index entry points at another index`);
    }
    return { manifest: chosen.parsed, repoDigest };
  }

  private async pullImage(
    candidate: PullCandidate,
    call: RegistryCall,
    { manifest, repoDigest }: { manifest: ImageManifest; repoDigest: string },
    reporter: PullReporter,
  ): Promise<ImageRecord> {
    const { canonical } = candidate;
    const configBytes = await this.fetchSmallBlob(candidate, manifest.config, call);
    const config = parseImageConfig(configBytes);
    if (config.diffIds.length !== manifest.layers.length) {
      throw new InvalidArgumentError(
        `${referenceString(canonical)}: the manifest lists ${manifest.layers.length} layers but the config ${config.diffIds.length} diff IDs`,
      );
    }
    const chain = chainIds(config.diffIds);
    const release = this.deps.images.holdLayers(chain);
    let recorded = false;
    try {
      reporter.layers(
        manifest.layers.map((layer, index) => ({
          digest: layer.digest,
          size: layer.size,
          stage: this.deps.layers.get(chain[index]!) ? 'present' : 'waiting',
        })),
      );
      // Every layer settles before the outcome is decided, so none commits after a failed pull has cleaned up.
      const settled = await Promise.allSettled(
        manifest.layers.map((layer, index) =>
          this.ensureLayer(candidate, call, layer, config.diffIds[index]!, chain[index - 1] ?? null, chain[index]!, reporter),
        ),
      );
      const failed = settled.find((outcome) => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      const committed = settled.map((outcome) => (outcome as PromiseFulfilledResult<LayerRecord>).value);
      const image = await this.deps.images.add({
        id: manifest.config.digest,
        layers: chain,
        size: committed.reduce((total, layer) => total + layer.uncompressedSize, 0),
        user: config.config.user,
        config: configBytes,
        tag: canonical.tag === null ? null : `${referenceName(canonical)}:${canonical.tag}`,
        repoDigest,
      });
      recorded = true;
      return image;
    } finally {
      release();
      // A failed pull leaves the store as it found it: layers it committed that no image uses go again.
      if (!recorded) await this.deps.images.collectUnusedLayers();
    }
  }

  /** The image config is small and needed whole; it goes through a scratch staging area and into memory. */
  private async fetchSmallBlob(candidate: PullCandidate, descriptor: Descriptor, call: RegistryCall): Promise<Buffer> {
    const scratch = await this.deps.layers.stage();
    try {
      await this.deps.client.fetchBlob(candidate, descriptor, scratch.blobPath, call);
      return await readFile(scratch.blobPath);
    } finally {
      await scratch.discard();
    }
  }

  /** `call.signal` is the pull's; the layer has its own, aborted only when no pull needs the layer any more. */
  private async ensureLayer(
    candidate: PullCandidate,
    call: RegistryCall,
    descriptor: Descriptor,
    diffId: string,
    parent: string | null,
    chainId: string,
    reporter: PullReporter,
  ): Promise<LayerRecord> {
    const present = this.deps.layers.get(chainId);
    if (present) {
      this.observer.layerReused();
      return present;
    }
    const work = async (signal: AbortSignal): Promise<LayerRecord> => {
      const compression = layerCompression(descriptor.mediaType);
      const staging = await this.deps.layers.stage();
      try {
        await this.downloads.run(() => {
          // Cancelled while queued: the slot goes to a layer someone still wants.
          signal.throwIfAborted();
          reporter.layer(descriptor.digest, { stage: 'downloading' });
          return this.deps.client.fetchBlob(candidate, descriptor, staging.blobPath, {
            ...call,
            signal,
            onProgress: (downloaded) => reporter.layer(descriptor.digest, { downloaded }),
          });
        });
        reporter.layer(descriptor.digest, { stage: 'unpacking', downloaded: descriptor.size });
        const unpacked = await this.unpacks.run(() => {
          signal.throwIfAborted();
          return this.deps.unpack(
            {
              blobPath: staging.blobPath,
              destination: staging.diffDir,
              compression,
              maxUncompressedBytes: this.deps.maxLayerBytes,
            },
            signal,
          );
        });
        if (unpacked.diffId !== diffId) {
          throw new LayerUnpackError(
            'diff-id-mismatch',
            `layer ${descriptor.digest} of ${referenceString(candidate.canonical)} unpacks to ${unpacked.diffId}, but the image config says ${diffId}`,
          );
        }
        const record = await staging.commit({
          diffId,
          parent,
          compressedDigest: unpacked.compressedDigest,
          compressedSize: unpacked.compressedSize,
          uncompressedSize: unpacked.uncompressedSize,
        });
        reporter.layer(descriptor.digest, { stage: 'done' });
        this.observer.layerFetched(descriptor.size);
        return record;
      } catch (error) {
        reporter.layer(descriptor.digest, { stage: 'failed' });
        await staging.discard();
        throw error;
      }
    };
    return this.layerWork.run(chainId, work, call.signal);
  }
}

function pullFailureReason(error: unknown): PullFailureReason {
  if (error instanceof LayerUnpackError) return error.rejection;
  return error instanceof CrionError ? error.kind : 'internal';
}

/**
 * When every endpoint said "not found", so does the pull, naming where it
 * looked; otherwise the first real failure (refused credentials, a
 * registry down) is the one worth reporting.
 */
function pullFailure(name: string, failures: ReadonlyArray<{ candidate: PullCandidate; error: unknown }>): Error {
  const real = failures.find(({ error }) => !(error instanceof NotFoundError));
  if (real) return real.error instanceof Error ? real.error : new Error(String(real.error));
  const tried = failures.map(({ candidate }) => referenceString(candidate.reference));
  return new NotFoundError(`image "${name}" not found${tried.length > 0 ? ` (tried ${tried.join(', ')})` : ''}`);
}
