import test from 'ava';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ImageStore } from '../../src/image/image-store.js';
import { chainIds, LayerStore } from '../../src/image/layer-store.js';
import { createLogger } from '../../src/log/logger.js';

const log = createLogger({ level: 'fatal', format: 'json', destination: new PassThrough() });

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function addLayer(store: LayerStore, name: string, parent: string | null) {
  const staging = await store.stage();
  await writeFile(path.join(staging.diffDir, name), name);
  return staging.commit({
    diffId: sha256(name),
    parent,
    compressedDigest: sha256(`gz-${name}`),
    compressedSize: 10,
    uncompressedSize: 20,
  });
}

test('chain IDs follow the OCI definition', (t) => {
  const a = sha256('a');
  const b = sha256('b');
  t.deepEqual(chainIds([a, b]), [a, `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`]);
});

test('a committed layer is published under its chain ID with a short link', async (t) => {
  const dir = await scratch(t);
  const store = await LayerStore.open(dir, log);
  const base = await addLayer(store, 'base', null);
  const top = await addLayer(store, 'top', base.chainId);
  t.is(base.chainId, base.diffId);
  t.is(top.chainId, chainIds([base.diffId, top.diffId]).at(-1)!);
  t.regex(top.link, /^[A-Z2-7]{26}$/);
  t.is(await readlink(path.join(dir, 'l', top.link)), `../layers/${top.chainId.slice(7)}/diff`);
  t.deepEqual(store.lowerDirs([base.chainId, top.chainId]), [`l/${top.link}`, `l/${base.link}`]);
  t.true(top.inodes >= 2);
  t.deepEqual(await readdir(path.join(dir, 'staging')), [], 'the staging directory is consumed');
});

test('restart drops staging leftovers and unreadable layers, and repairs missing links', async (t) => {
  const dir = await scratch(t);
  const store = await LayerStore.open(dir, log);
  const layer = await addLayer(store, 'base', null);
  await mkdir(path.join(dir, 'staging', 'half-done', 'diff'), { recursive: true });
  await mkdir(path.join(dir, 'layers', 'f'.repeat(64), 'diff'), { recursive: true });
  await rm(path.join(dir, 'l', layer.link));

  const reopened = await LayerStore.open(dir, log);
  t.deepEqual(
    reopened.list().map((record) => record.chainId),
    [layer.chainId],
  );
  t.deepEqual(await readdir(path.join(dir, 'staging')), []);
  t.deepEqual(await readdir(path.join(dir, 'layers')), [layer.chainId.slice(7)]);
  t.true((await lstat(path.join(dir, 'l', layer.link))).isSymbolicLink());
});

test('images share layers; removing one image frees only the layers no other image uses', async (t) => {
  const dir = await scratch(t);
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const base = await addLayer(layers, 'base', null);
  const onlyA = await addLayer(layers, 'a', base.chainId);
  const onlyB = await addLayer(layers, 'b', base.chainId);
  const common = { size: 1, user: '', config: Buffer.from('{}'), repoDigest: null };
  await images.add({ ...common, id: sha256('image-a'), layers: [base.chainId, onlyA.chainId], tag: 'example.com/a:1' });
  await images.add({ ...common, id: sha256('image-b'), layers: [base.chainId, onlyB.chainId], tag: 'example.com/b:1' });

  await images.remove(sha256('image-a'));
  t.deepEqual(
    layers
      .list()
      .map((layer) => layer.chainId)
      .sort(),
    [base.chainId, onlyB.chainId].sort(),
  );
  t.is(images.byTag('example.com/a:1'), undefined);
  await t.notThrowsAsync(images.remove(sha256('image-a')), 'removal is idempotent');
});

test('a tag moves to the newer image, and untagging the last tag removes the image', async (t) => {
  const dir = await scratch(t);
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const base = await addLayer(layers, 'base', null);
  const common = { size: 1, user: '', config: Buffer.from('{}'), layers: [base.chainId] };
  await images.add({ ...common, id: sha256('old'), tag: 'example.com/app:latest', repoDigest: 'example.com/app@sha256:1' });
  await images.add({ ...common, id: sha256('old'), tag: 'example.com/app:v1', repoDigest: null });
  await images.add({ ...common, id: sha256('new'), tag: 'example.com/app:latest', repoDigest: null });

  t.is(images.byTag('example.com/app:latest')?.id, sha256('new'));
  t.deepEqual(images.get(sha256('old'))?.repoTags, ['example.com/app:v1']);
  t.is(images.byRepoDigest('example.com/app@sha256:1')?.id, sha256('old'));

  await images.untag('example.com/app:v1');
  t.is(images.get(sha256('old')), undefined);
  t.truthy(layers.get(base.chainId), 'the layer is still used by the new image');
});

test('records survive a restart; an image whose layer vanished is dropped', async (t) => {
  const dir = await scratch(t);
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const kept = await addLayer(layers, 'kept', null);
  const lost = await addLayer(layers, 'lost', null);
  const common = { size: 1, user: '1000', config: Buffer.from('{"config":{}}'), repoDigest: null };
  await images.add({ ...common, id: sha256('kept'), layers: [kept.chainId], tag: 'example.com/kept:1' });
  await images.add({ ...common, id: sha256('lost'), layers: [lost.chainId], tag: 'example.com/lost:1' });
  await rm(path.join(dir, 'overlay', 'layers', lost.chainId.slice(7)), { recursive: true });

  const reopenedLayers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const reopened = await ImageStore.open(path.join(dir, 'images'), reopenedLayers, log);
  t.deepEqual(
    reopened.list().map((image) => image.id),
    [sha256('kept')],
  );
  t.is(reopened.byIdPrefix(sha256('kept').slice(7, 19))?.user, '1000');
  t.deepEqual(JSON.parse((await reopened.readConfig(sha256('kept'))).toString()), { config: {} });
});

test('layers held by a pull in progress are not collected', async (t) => {
  const dir = await scratch(t);
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const pulling = await addLayer(layers, 'pulling', null);
  const other = await addLayer(layers, 'other', null);
  const release = images.holdLayers([pulling.chainId]);
  await images.add({
    id: sha256('x'),
    layers: [other.chainId],
    size: 1,
    user: '',
    config: Buffer.from('{}'),
    tag: 'example.com/x:1',
    repoDigest: null,
  });
  await images.remove(sha256('x'));
  t.truthy(layers.get(pulling.chainId));
  release();
});

test('a reopened store collects no layer until asked, so a running container whose image was removed can hold its layers first', async (t) => {
  const dir = await scratch(t);
  const layers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const images = await ImageStore.open(path.join(dir, 'images'), layers, log);
  const rootfs = await addLayer(layers, 'rootfs', null);
  const stray = await addLayer(layers, 'stray', null);
  // A container runs on the image's layer; then the image is removed (crictl rmi), which the hold outlives.
  const container = images.holdLayers([rootfs.chainId]);
  await images.add({
    id: sha256('app'),
    layers: [rootfs.chainId],
    size: 1,
    user: '',
    config: Buffer.from('{}'),
    tag: 'example.com/app:1',
    repoDigest: null,
  });
  await images.remove(sha256('app'));
  t.truthy(layers.get(rootfs.chainId));
  container();

  // The daemon restarts: stores reopen, the container's record holds its layers again, then unused ones go.
  const reopenedLayers = await LayerStore.open(path.join(dir, 'overlay'), log);
  const reopened = await ImageStore.open(path.join(dir, 'images'), reopenedLayers, log);
  t.truthy(reopenedLayers.get(rootfs.chainId), 'opening collects nothing');
  const restored = reopened.holdLayers([rootfs.chainId]);
  await reopened.collectUnusedLayers();
  t.truthy(reopenedLayers.get(rootfs.chainId), "the running container's layer stays");
  t.is(reopenedLayers.get(stray.chainId), undefined, 'a layer nothing holds goes');
  restored();
});
