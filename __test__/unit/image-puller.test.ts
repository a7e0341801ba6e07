import test, { type ExecutionContext } from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMPTY_AUTH_FILE } from '../../src/image/auth.js';
import { digestOf } from '../../src/image/digest.js';
import { ImageStore } from '../../src/image/image-store.js';
import { chainIds, LayerStore } from '../../src/image/layer-store.js';
import { parseManifest } from '../../src/image/manifest.js';
import { PullProgressBoard } from '../../src/image/pull-progress.js';
import { Puller, type PullerRegistry, type PullObserver } from '../../src/image/puller.js';
import { referenceString } from '../../src/image/reference.js';
import type { RegistriesConfig } from '../../src/image/registries-conf.js';
import { unpackLayerJs } from '../../src/image/unpack/index.js';
import { createLogger } from '../../src/log/logger.js';
import { buildImage, buildLayer, type BuiltImage } from '../helpers/oci-image-builder.js';

/**
 * The Puller against an in-memory registry whose blobs can be made to stall,
 * with real layer and image stores in a temporary directory: what happens to
 * a pull when the callers waiting for it go away.
 */

const log = createLogger({ level: 'fatal', format: 'json', destination: new PassThrough() });

const NO_REGISTRIES: RegistriesConfig = {
  files: [],
  unqualifiedSearchRegistries: [],
  searchRegistriesSource: null,
  shortNameMode: 'permissive',
  aliases: new Map(),
  registries: [],
};

/** A blob held mid-body until released, or until the request's signal gives up on it, as a stalling registry does. */
interface Stall {
  /** Resolves once the puller is waiting on the blob. */
  readonly reached: Promise<void>;
  /** The signal of the request that stalled: whether the puller gave up on the registry. */
  signal(): AbortSignal | undefined;
  release(): void;
}

/**
 * Serves manifests and blobs as RegistryClient does, signal included: an
 * aborted request rejects with the signal's reason and leaves no file.
 */
class FakeRegistry implements PullerRegistry {
  private readonly manifests = new Map<string, Buffer>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly fetchCounts = new Map<string, number>();
  private readonly stalls = new Map<string, { reached: () => void; released: Promise<void>; signal: AbortSignal | undefined }>();

  publish(name: string, image: BuiltImage): void {
    this.manifests.set(name, image.manifest.data);
    this.blobs.set(image.config.digest, image.config.data);
    for (const layer of image.layers) this.blobs.set(layer.digest, layer.data as Buffer);
  }

  stall(digest: string): Stall {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const entry = { reached, released: new Promise<void>((resolve) => (release = resolve)), signal: undefined as AbortSignal | undefined };
    this.stalls.set(digest, entry);
    return { reached: reachedPromise, signal: () => entry.signal, release };
  }

  fetches(digest: string): number {
    return this.fetchCounts.get(digest) ?? 0;
  }

  async getManifest(endpoint: Parameters<PullerRegistry['getManifest']>[0]) {
    const bytes = this.manifests.get(referenceString(endpoint.reference));
    if (bytes === undefined) throw new Error(`no manifest for ${referenceString(endpoint.reference)}`);
    const parsed = parseManifest(bytes, null);
    return { mediaType: parsed.mediaType, digest: digestOf(bytes), bytes, parsed };
  }

  async fetchBlob(
    _endpoint: unknown,
    descriptor: { digest: string },
    destination: string,
    call: { signal?: AbortSignal | undefined },
  ): Promise<void> {
    const data = this.blobs.get(descriptor.digest);
    if (data === undefined) throw new Error(`no blob ${descriptor.digest}`);
    this.fetchCounts.set(descriptor.digest, this.fetches(descriptor.digest) + 1);
    const stall = this.stalls.get(descriptor.digest);
    if (stall === undefined) {
      await writeFile(destination, data);
      return;
    }
    await writeFile(destination, data.subarray(0, data.length >> 1));
    stall.signal = call.signal;
    stall.reached();
    try {
      await new Promise<void>((resolve, reject) => {
        void stall.released.then(resolve);
        call.signal?.addEventListener('abort', () => reject(call.signal!.reason), { once: true });
        if (call.signal?.aborted) reject(call.signal.reason);
      });
    } catch (error) {
      await rm(destination, { force: true });
      throw error;
    }
    await writeFile(destination, data);
  }
}

/** What the puller told its observer, in order. */
class RecordingObserver implements PullObserver {
  readonly calls: string[] = [];
  layerReused(): void {
    this.calls.push('reused');
  }
  layerFetched(bytes: number): void {
    this.calls.push(`fetched ${bytes}`);
  }
  succeeded(): void {
    this.calls.push('succeeded');
  }
  failed(reason: string): void {
    this.calls.push(`failed ${reason}`);
  }
}

interface Harness {
  readonly registry: FakeRegistry;
  readonly observer: RecordingObserver;
  readonly puller: Puller;
  readonly layers: LayerStore;
  readonly progress: PullProgressBoard;
  contents: () => Promise<{ staging: string[]; layers: string[]; images: string[] }>;
}

async function harness(t: ExecutionContext): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-puller-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const registry = new FakeRegistry();
  const progress = new PullProgressBoard();
  const observer = new RecordingObserver();
  const puller = new Puller({
    observer,
    client: registry,
    registries: NO_REGISTRIES,
    authFile: EMPTY_AUTH_FILE,
    layers,
    images,
    unpack: unpackLayerJs,
    progress,
    maxConcurrentDownloads: 6,
    maxLayerBytes: 1024 ** 3,
    log,
  });
  return {
    registry,
    observer,
    puller,
    layers,
    progress,
    contents: async () => ({
      staging: await readdir(path.join(dir, 'overlay', 'staging')),
      layers: await readdir(path.join(dir, 'overlay', 'layers')),
      images: await readdir(path.join(dir, 'images')),
    }),
  };
}

/** Two layers: a base that arrives at once and a top layer the tests stall. */
async function twoLayerImage(name: string): Promise<BuiltImage> {
  const base = await buildLayer([{ type: 'file', path: 'base', content: `base of ${name}` }]);
  const top = await buildLayer([{ type: 'file', path: 'top', content: `top of ${name}`.repeat(64) }]);
  return buildImage({ layers: [base, top] });
}

/**
 * What the promise rejected with, 'fulfilled', or 'pending' if it has not
 * settled within `ms`: a bound far above "promptly", to tell it from "never".
 */
async function rejectionWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  // A referenced timer: a pull that never settles holds no handle of its own to keep the test alive until the verdict.
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise.then(
        () => 'fulfilled',
        (reason: unknown) => reason,
      ),
      sleep(ms, 'pending', { signal: timer.signal }),
    ]);
  } finally {
    timer.abort();
  }
}

/** Resolves once the pull of `name` is past its manifest and config, so it has joined the work on its layers. */
async function pullingLayers(progress: PullProgressBoard, name: string): Promise<void> {
  const pulling = () => progress.snapshot().some((pull) => pull.image === name && pull.stage === 'pulling');
  if (pulling()) return;
  await new Promise<void>((resolve) => {
    const stop = progress.watch(() => {
      if (!pulling()) return;
      stop();
      resolve();
    });
  });
}

async function committed(layers: LayerStore, chainId: string): Promise<void> {
  for (let waited = 0; layers.get(chainId) === undefined; waited += 10) {
    if (waited > 10_000) throw new Error(`layer ${chainId} was never committed`);
    await sleep(10);
  }
}

const NAME = 'registry.test/team/app:v1';
const PROMPTLY_MS = 5_000;

test('a pull whose only caller gives up is cancelled and leaves the store as it found it', async (t) => {
  const { registry, puller, layers, contents, observer } = await harness(t);
  const image = await twoLayerImage('app');
  registry.publish(NAME, image);
  const stall = registry.stall(image.layers[1]!.digest);
  t.teardown(() => stall.release());

  const caller = new AbortController();
  const pull = puller.pull(NAME, null, caller.signal);
  await stall.reached;
  await committed(layers, image.layers[0]!.diffId);
  caller.abort(new Error('the client went away'));

  const rejection = await rejectionWithin(pull, PROMPTLY_MS);
  t.not(rejection, 'pending', 'the pull still runs after its only caller left');
  t.is((rejection as Error).message, 'the client went away');
  t.true(stall.signal()?.aborted, 'the stalled registry request was cut');
  t.deepEqual(await contents(), { staging: [], layers: [], images: [] }, 'no half layer, and the committed base is collected');
  t.deepEqual(
    observer.calls,
    [`fetched ${image.layers[0]!.size}`, 'failed cancelled'],
    'the base layer counts as fetched even though it was collected',
  );
});

test('the observer hears of layers fetched with their bytes, then reused by the next pull, and of each outcome', async (t) => {
  const { registry, puller, observer } = await harness(t);
  const image = await twoLayerImage('app');
  registry.publish(NAME, image);
  await puller.pull(NAME, null);
  const fetched = image.layers.map((layer) => `fetched ${layer.size}`);
  t.deepEqual([...observer.calls].sort(), [...fetched, 'succeeded'].sort());
  observer.calls.length = 0;
  // A pull asked for in the same tick as the last one settles joins it, as SharedWork lets go of work a tick late.
  await sleep(0);
  await puller.pull(NAME, null);
  t.deepEqual(observer.calls, ['reused', 'reused', 'succeeded']);
  observer.calls.length = 0;
  await t.throwsAsync(puller.pull('registry.test/team/missing:v1', null));
  t.deepEqual(observer.calls, ['failed internal'], "the fake registry's plain Error is no domain error");
});

test('a shared pull survives one of its callers leaving and completes for the other', async (t) => {
  const { registry, puller, contents } = await harness(t);
  const image = await twoLayerImage('app');
  registry.publish(NAME, image);
  const stall = registry.stall(image.layers[1]!.digest);
  t.teardown(() => stall.release());

  const leaving = new AbortController();
  const staying = new AbortController();
  const left = puller.pull(NAME, null, leaving.signal);
  const stays = puller.pull(NAME, null, staying.signal);
  await stall.reached;
  leaving.abort(new Error('the first client went away'));

  const rejection = await rejectionWithin(left, PROMPTLY_MS);
  t.not(rejection, 'pending', 'the caller that left is not answered');
  t.is((rejection as Error).message, 'the first client went away');
  t.false(stall.signal()?.aborted, 'the registry request goes on for the caller that stayed');

  stall.release();
  const pulled = await stays;
  t.is(pulled.id, image.config.digest);
  t.deepEqual(await contents(), {
    staging: [],
    layers: chainIds(image.layers.map((layer) => layer.diffId))
      .map((chainId) => chainId.slice('sha256:'.length))
      .sort(),
    images: [image.config.digest.slice('sha256:'.length)],
  });
});

test('a layer two images share goes on downloading when the pull of one of them is cancelled', async (t) => {
  const { registry, puller, progress, contents } = await harness(t);
  const shared = await buildLayer([{ type: 'file', path: 'shared', content: 'the same base'.repeat(64) }]);
  const first = buildImage({ layers: [shared], config: { Cmd: ['first'] } });
  const second = buildImage({ layers: [shared], config: { Cmd: ['second'] } });
  registry.publish('registry.test/team/first:v1', first);
  registry.publish('registry.test/team/second:v1', second);
  const stall = registry.stall(shared.digest);
  t.teardown(() => stall.release());

  const leaving = new AbortController();
  const left = puller.pull('registry.test/team/first:v1', null, leaving.signal);
  await stall.reached;
  const stays = puller.pull('registry.test/team/second:v1', null, new AbortController().signal);
  await pullingLayers(progress, 'registry.test/team/second:v1');
  leaving.abort(new Error('the first client went away'));

  const rejection = await rejectionWithin(left, PROMPTLY_MS);
  t.not(rejection, 'pending', 'the cancelled pull is not answered');
  t.is((rejection as Error).message, 'the first client went away');
  t.false(stall.signal()?.aborted, 'the shared layer is still wanted');
  t.is(registry.fetches(shared.digest), 1, "the second pull joined the first one's download");
  stall.release();
  t.is((await stays).id, second.config.digest);
  t.deepEqual((await contents()).images, [second.config.digest.slice('sha256:'.length)]);
});
