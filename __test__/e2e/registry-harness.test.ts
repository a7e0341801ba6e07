/**
 * Tests of the test harness itself: every registry variant starts, takes the
 * whole image set, and serves it back to a plain `fetch` with the right
 * credentials only; the images hold what their metadata promises. Pull tests
 * trust these helpers, so a broken fixture must fail here, not there.
 */

import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BIG_IMAGE_REPOSITORY, buildBigImage, publishBigImage } from '../helpers/big-image.js';
import { critestRegistriesConf, publishCritestImages } from '../helpers/critest-images.js';
import { BlobFile, MediaType } from '../helpers/oci-image-builder.js';
import { parseChallenge } from '../helpers/registry-client.js';
import { REGISTRY_CREDENTIALS, startRegistry, startSharedRegistry, type Registry } from '../helpers/registry.js';
import { MULTILAYER_ENTRIES, publishTestImages, type ExpectedNode, type ExpectedTree, type TestImages } from '../helpers/test-images.js';
import type { TarEntry } from '../helpers/tar-writer.js';

const execFileAsync = promisify(execFile);

// Tests that only read share one open registry with the images published once:
// every publish costs the registry some 100 requests, and these run in parallel.
const test = anyTest as TestFn<{ registry: Registry; images: TestImages }>;

test.before(async (t) => {
  t.context.registry = await startSharedRegistry();
  t.context.images = await publishTestImages(t.context.registry);
});

test.after.always(async (t) => {
  await t.context.registry?.dispose();
});

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/**
 * A bare client, independent of registry-client.ts: one request, and on a 401
 * the challenge answered once (Basic directly, Bearer via the realm).
 */
async function plainFetch(url: string, password: string | null, headers: Record<string, string> = {}): Promise<Response> {
  const first = await fetch(url, { headers });
  if (first.status !== 401 || password === null) return first;
  await first.arrayBuffer();
  const credentials = basic(REGISTRY_CREDENTIALS.username, password);
  const { scheme, params } = parseChallenge(first.headers.get('www-authenticate') ?? '');
  if (scheme === 'basic') return fetch(url, { headers: { ...headers, authorization: credentials } });
  const tokenUrl = new URL(params.realm!);
  tokenUrl.searchParams.set('service', params.service!);
  tokenUrl.searchParams.set('scope', params.scope!);
  const tokenResponse = await fetch(tokenUrl, { headers: { authorization: credentials } });
  if (tokenResponse.status !== 200) return tokenResponse;
  const { token } = (await tokenResponse.json()) as { token: string };
  return fetch(url, { headers: { ...headers, authorization: `Bearer ${token}` } });
}

/** Fetches the busybox image's manifest and layer as a client would, and checks them against the metadata. */
async function assertServes(t: ExecutionContext, registry: Registry, images: TestImages, password: string | null): Promise<void> {
  const busybox = images.busybox;
  const manifest = await plainFetch(`${registry.url}/v2/${busybox.repository}/manifests/latest`, password, {
    accept: MediaType.ociManifest,
  });
  t.is(manifest.status, 200);
  t.is(manifest.headers.get('content-type'), MediaType.ociManifest);
  t.is(manifest.headers.get('docker-content-digest'), busybox.manifestDigest);
  t.is(sha256(Buffer.from(await manifest.arrayBuffer())), busybox.manifestDigest);

  const layer = busybox.layers[0]!;
  const blob = await plainFetch(`${registry.url}/v2/${busybox.repository}/blobs/${layer.digest}`, password);
  t.is(blob.status, 200);
  const bytes = Buffer.from(await blob.arrayBuffer());
  t.is(bytes.length, layer.size);
  t.is(sha256(bytes), layer.digest);
  t.is(sha256(zlib.gunzipSync(bytes)), layer.diffId);
}

test('open registry: publishes the test images and serves them', async (t) => {
  await assertServes(t, t.context.registry, t.context.images, null);
});

for (const auth of ['basic', 'token'] as const) {
  test(`${auth} registry: publishes the test images and serves them with credentials`, async (t) => {
    const registry = await startRegistry(t, { auth });
    await assertServes(t, registry, await publishTestImages(registry), REGISTRY_CREDENTIALS.password);
  });
}

test('basic registry: refuses a wrong password and no credentials', async (t) => {
  const registry = await startRegistry(t, { auth: 'basic' });
  const url = `${registry.url}/v2/`;
  const anonymous = await fetch(url);
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm=/);
  t.is((await fetch(url, { headers: { authorization: basic('crion', 'wrong') } })).status, 401);
  t.is((await fetch(url, { headers: { authorization: basic('crion', REGISTRY_CREDENTIALS.password) } })).status, 200);
});

test('token registry: challenges with Bearer, issues tokens for the right password only, and records requests', async (t) => {
  const registry = await startRegistry(t, { auth: 'token' });
  const tokens = registry.tokenService!;
  const url = `${registry.url}/v2/crion-test/none/manifests/latest`;
  const anonymous = await fetch(url);
  t.is(anonymous.status, 401);
  const { scheme, params } = parseChallenge(anonymous.headers.get('www-authenticate') ?? '');
  t.is(scheme, 'bearer');
  t.is(params.realm, tokens.realm);
  t.is(params.scope, 'repository:crion-test/none:pull');

  t.is((await plainFetch(url, 'wrong')).status, 401, 'the token service refuses a wrong password');
  t.deepEqual(tokens.granted, []);
  // Authenticated, with a token for that scope: the manifest is merely unknown.
  t.is((await plainFetch(url, REGISTRY_CREDENTIALS.password)).status, 404);
  t.deepEqual(
    tokens.granted.map((request) => [request.username, request.scopes]),
    [['crion', ['repository:crion-test/none:pull']]],
  );

  const forged = await fetch(url, { headers: { authorization: 'Bearer not.a.token' } });
  t.is(forged.status, 401);
});

test('open registry: index, Docker, zstd and corrupt images are served as described', async (t) => {
  const { registry, images } = t.context;

  const { multiarch } = images;
  t.deepEqual(
    multiarch.images.map((image) => image.platform),
    [
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'amd64' },
    ],
  );
  t.is(multiarch.selected, multiarch.images[2]!);
  t.is(new Set(multiarch.images.map((image) => image.configDigest)).size, 3, 'each platform is a distinct image');
  const index = await fetch(`${registry.url}/v2/crion-test/multiarch/manifests/latest`, { headers: { accept: MediaType.ociIndex } });
  t.is(index.headers.get('docker-content-digest'), multiarch.indexDigest);
  const indexJson = (await index.json()) as { manifests: { digest: string }[] };
  t.deepEqual(
    indexJson.manifests.map((entry) => entry.digest),
    multiarch.images.map((image) => image.manifestDigest),
  );

  const list = await fetch(`${registry.url}/v2/crion-test/docker-schema2/manifests/latest`, {
    headers: { accept: `${MediaType.dockerManifestList}, ${MediaType.dockerManifest}` },
  });
  t.is(list.headers.get('content-type'), MediaType.dockerManifestList);
  t.is(list.headers.get('docker-content-digest'), images.dockerSchema2.indexDigest);
  t.is(images.dockerSchema2.selected.manifestDigest, images.dockerSchema2Single.manifestDigest);
  t.is(images.dockerSchema2Single.configMediaType, MediaType.dockerConfig);
  t.true(images.dockerSchema2Single.layers.every((layer) => layer.mediaType === MediaType.dockerLayerGzip));

  const zstdLayer = images.zstd.layers[0]!;
  t.is(zstdLayer.mediaType, MediaType.ociLayerZstd);
  const zstdBlob = Buffer.from(await (await fetch(`${registry.url}/v2/crion-test/zstd/blobs/${zstdLayer.digest}`)).arrayBuffer());
  t.is(zstdBlob.readUInt32LE(0), 0xfd2fb528, 'zstd frame magic');
  const zstdTar = await new Promise<Buffer>((resolve, reject) => {
    const child = execFile('zstd', ['-d', '-c'], { encoding: 'buffer', maxBuffer: 64 << 20 }, (error, stdout) =>
      error ? reject(new Error(error.message, { cause: error })) : resolve(stdout),
    );
    child.stdin!.end(zstdBlob);
  });
  t.is(sha256(zstdTar), zstdLayer.diffId);

  t.deepEqual(
    images.multilayer.layers.map((layer) => layer.mediaType),
    [MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayer],
  );

  const { corrupt } = images;
  const served = await fetch(`${registry.url}/v2/crion-test/corrupt/blobs/${corrupt.corruptLayerDigest}`);
  t.is(served.status, 200);
  t.is(served.headers.get('docker-content-digest'), corrupt.corruptLayerDigest, 'the registry still claims the genuine digest');
  const servedBytes = Buffer.from(await served.arrayBuffer());
  t.is(servedBytes.length, corrupt.layers[0]!.size);
  t.is(sha256(servedBytes), corrupt.servedDigest);
  t.not(corrupt.servedDigest, corrupt.corruptLayerDigest);
  t.notThrows(() => zlib.gunzipSync(servedBytes), 'the tampered blob is still a valid gzip stream');
});

test('a second publish to the same registry gives the same images', async (t) => {
  const first = t.context.images;
  const second = await publishTestImages(t.context.registry);
  t.is(second.busybox.manifestDigest, first.busybox.manifestDigest);
  t.is(second.corrupt.servedDigest, first.corrupt.servedDigest);
});

/** Applies whiteouts the way the OCI image spec describes, over entries rather than tar bytes. */
function applyLayers(layers: readonly (readonly TarEntry[])[]): ExpectedTree {
  const tree = new Map<string, ExpectedNode>();
  const removeSubtree = (root: string, among: Iterable<string>): void => {
    for (const key of [...among]) if (key === root || key.startsWith(`${root}/`)) tree.delete(key);
  };
  for (const entries of layers) {
    // Whiteouts hide lower layers only, never entries of their own layer.
    const lower = new Set(tree.keys());
    for (const entry of entries) {
      const entryPath = entry.path.replace(/\/$/, '');
      const base = path.posix.basename(entryPath);
      const parent = path.posix.dirname(entryPath);
      if (base === '.wh..wh..opq') {
        for (const key of lower) if (key.startsWith(`${parent}/`)) tree.delete(key);
      } else if (base.startsWith('.wh.')) {
        removeSubtree(path.posix.join(parent, base.slice('.wh.'.length)), lower);
      } else {
        const existing = tree.get(entryPath);
        if (existing !== undefined && !(existing.type === 'dir' && entry.type === 'dir')) removeSubtree(entryPath, tree.keys());
        tree.set(entryPath, nodeOf(entry, tree));
      }
    }
  }
  return Object.fromEntries(tree);
}

function nodeOf(entry: TarEntry, tree: Map<string, ExpectedNode>): ExpectedNode {
  const owner = { uid: entry.uid ?? 0, gid: entry.gid ?? 0 };
  switch (entry.type) {
    case 'dir':
      return { type: 'dir', mode: entry.mode ?? 0o755, ...owner };
    case 'file':
      return {
        type: 'file',
        mode: entry.mode ?? 0o644,
        ...owner,
        content: String(entry.content ?? ''),
        ...(entry.xattrs === undefined ? {} : { xattrs: entry.xattrs }),
      };
    case 'hardlink':
      return { ...(tree.get(entry.target) as ExpectedNode & { type: 'file' }), hardLinkOf: entry.target };
    case 'symlink':
      return { type: 'symlink', target: entry.target, ...owner };
    case 'fifo':
      return { type: 'fifo', mode: entry.mode ?? 0o644, ...owner };
    default:
      throw new Error(`the multilayer image has no ${entry.type} entries`);
  }
}

function sorted(tree: ExpectedTree): [string, ExpectedNode][] {
  return Object.entries(tree).sort(([a], [b]) => a.localeCompare(b));
}

test("the multilayer image's expected tree is what applying its layers gives", async (t) => {
  const { multilayer } = t.context.images;
  t.deepEqual(sorted(multilayer.tree), sorted(applyLayers(MULTILAYER_ENTRIES)));
  const firstLayerPaths = new Set(MULTILAYER_ENTRIES[0]!.map((entry) => entry.path.replace(/\/$/, '')));
  for (const deleted of multilayer.deleted) {
    t.true(firstLayerPaths.has(deleted), `${deleted} exists in the first layer`);
    t.false(deleted in multilayer.tree, `${deleted} is gone from the merged tree`);
  }
});

test('the busybox layer unpacks with GNU tar into a rootfs whose shell runs and whose applets are hard links', async (t) => {
  const {
    registry,
    images: { busybox },
  } = t.context;
  const layer = await registry.client().getBlob(busybox.repository, busybox.layers[0]!.digest);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-busybox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    const child = execFile('tar', ['-xzf', '-', '-C', dir], (error) => (error ? reject(new Error(error.message, { cause: error })) : resolve()));
    child.stdin!.end(layer);
  });
  const { stdout } = await execFileAsync(path.join(dir, 'bin/sh'), ['-c', 'echo hello']);
  t.is(stdout, 'hello\n');
  const busyboxInode = (await stat(path.join(dir, 'bin/busybox'))).ino;
  for (const applet of ['sh', 'ls', 'cat', 'sleep', 'id', 'wget', 'nc', 'hostname']) {
    t.is((await stat(path.join(dir, 'bin', applet))).ino, busyboxInode, `bin/${applet}`);
  }
  t.is((await stat(path.join(dir, 'tmp'))).mode & 0o7777, 0o1777);
  t.regex(await readFile(path.join(dir, 'etc/passwd'), 'utf8'), /^www-data:x:33:33:/m);
});

test('critest stand-ins: every name the image specs pull, with the users and identities they assert', async (t) => {
  const critestImages = await publishCritestImages(t.context.registry);
  const byName = new Map(critestImages.flatMap((image) => image.names.map((name) => [name, image.published] as const)));
  const staging = 'gcr.io/k8s-staging-cri-tools';
  const required = [
    ...['1', '2', '3', 'latest'].map((n) => `${staging}/test-image-${n}:latest`),
    ...['1', '2', '3'].map((tag) => `${staging}/test-image-tags:${tag}`),
    `${staging}/test-image-tag:test`,
    `${staging}/test-image-tag:all`,
    'registry.k8s.io/pause:3.9',
    'k8s.gcr.io/pause:3.9',
  ];
  for (const name of required) t.true(byName.has(name), name);
  const id = (name: string): string => byName.get(name)!.selected.configDigest;
  t.is(new Set(['1', '2', '3'].map((n) => id(`${staging}/test-image-${n}:latest`))).size, 3, 'test-image-1..3 are different images');
  t.is(new Set(['1', '2', '3'].map((tag) => id(`${staging}/test-image-tags:${tag}`))).size, 1, 'test-image-tags:1..3 are one image');
  t.not(id(`${staging}/test-image-tag:test`), id(`${staging}/test-image-tag:all`));
  t.is(id('registry.k8s.io/pause:3.9'), id('k8s.gcr.io/pause:3.9'));
  const user = (name: string): string | undefined => byName.get(`${staging}/${name}:latest`)!.selected.config.User;
  t.is(user('test-image-user-uid'), '1002');
  t.is(user('test-image-user-username'), 'www-data');
  t.is(user('test-image-user-uid-group'), '1003:1004');
  t.is(user('test-image-user-username-group'), 'www-data:1004');
  t.is(user('test-image-predefined-group'), '1000');

  // The mirror path: the loopback registry serves gcr.io's repository path as is.
  const manifest = await fetch(`${t.context.registry.url}/v2/k8s-staging-cri-tools/test-image-tag/manifests/test`, {
    headers: { accept: MediaType.dockerManifestList },
  });
  t.is(manifest.headers.get('docker-content-digest'), byName.get(`${staging}/test-image-tag:test`)!.indexDigest);
  t.regex(
    critestRegistriesConf(t.context.registry),
    new RegExp(`prefix = "gcr.io"\\n[^[]*\\n\\[\\[registry.mirror\\]\\]\\nlocation = "${t.context.registry.host}"`),
  );
});

test('big image: generated into the cache, reused from it, and pushed by streaming the cached files', async (t) => {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'crion-big-cache-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  // The benchmark's shape at 1/50 of its size: the same code paths, in a fraction of a second.
  const options = { totalBytes: 4 * 1024 * 1024, cacheDir, seed: 'harness-self-test' };
  const built = await buildBigImage(options);
  t.is(built.layers.length, 4);
  t.true(built.layers.every((layer) => layer.data instanceof BlobFile));
  const fromCache = await buildBigImage(options);
  t.is(fromCache.manifest.digest, built.manifest.digest);

  const published = await publishBigImage(t.context.registry, options);
  t.is(published.manifestDigest, built.manifest.digest);
  const layer = published.layers[3]!;
  const blob = await t.context.registry.client().getBlob(BIG_IMAGE_REPOSITORY, layer.digest);
  t.is(sha256(blob), layer.digest);
  t.is(sha256(zlib.gunzipSync(blob)), layer.diffId);
  t.true(layer.uncompressedSize > 1024 * 1024);
});
