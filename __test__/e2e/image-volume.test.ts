import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { OWN_PID, runBusyboxPod, writeJson } from '../helpers/crictl-pods.js';

/**
 * Image volumes (KEP-4639) through crictl on real runc: a CRI mount with
 * `image` set shows that image's merged layers read-only in the container,
 * its sub-path resolved inside the image, its image named in the status,
 * its layers kept while the container exists, and nothing left once the
 * container is removed, also across a daemon killed with SIGKILL.
 */

const source = sharedImageSource(test);

/** Where the multilayer image's merged tree appears; busybox (one layer) is mounted at TOOLS for its binaries. */
const VOLUME = '/mnt/volume';
const TOOLS = '/mnt/tools';

interface VolumeMount {
  container_path: string;
  image: { image: string };
  readonly: boolean;
  image_sub_path?: string;
}

async function pull(daemon: Daemon, reference: string): Promise<void> {
  const pulled = await crictl(daemon, ['pull', reference]);
  if (pulled.code !== 0) throw new Error(pulled.stderr);
}

/** A started busybox container in a pod of its own, with `mounts`. */
async function containerWith(daemon: Daemon, name: string, mounts: VolumeMount[]): Promise<string> {
  const { podId, podFile } = await runBusyboxPod(daemon, source, name);
  const file = await writeJson(daemon, `${name}-container.json`, {
    metadata: { name },
    image: { image: source.images.busybox.reference },
    command: ['sleep', '3600'],
    mounts,
    linux: { security_context: OWN_PID },
  });
  const created = await crictl(daemon, ['create', podId, file, podFile]);
  if (created.code !== 0) throw new Error(created.stderr);
  const id = created.stdout.trim();
  const started = await crictl(daemon, ['start', id]);
  if (started.code !== 0) throw new Error(started.stderr);
  return id;
}

async function exec(daemon: Daemon, id: string, command: string[]) {
  return crictl(daemon, ['exec', '-s', id, ...command]);
}

/** The mount lines below the daemon's container runtime directories, as the host sees them. */
async function containerMounts(daemon: Daemon): Promise<string[]> {
  const below = `${path.join(daemon.dir, 'state', 'c')}/`;
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.split(' ')[4]?.startsWith(below));
}

async function layerCount(daemon: Daemon): Promise<number> {
  return (await readdir(path.join(daemon.dir, 'root', 'overlay', 'layers'))).length;
}

test('an image volume shows the merged image read-only, nosuid and nodev but executable, and its status names the image', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { multilayer, busybox } = source.images;
  await pull(daemon, multilayer.reference);
  const id = await containerWith(daemon, 'volumes', [
    { container_path: VOLUME, image: { image: multilayer.reference }, readonly: true },
    { container_path: TOOLS, image: { image: busybox.reference }, readonly: true },
  ]);

  // The three layers merged: the top layer's file, the whiteouts honoured.
  t.is((await exec(daemon, id, ['cat', `${VOLUME}/etc/config`])).stdout.trim(), 'version=2');
  t.not((await exec(daemon, id, ['ls', `${VOLUME}/etc/remove-me`])).code, 0);
  t.is((await exec(daemon, id, ['cat', `${VOLUME}/swap/inside`])).stdout.trim(), 'now a directory');

  const write = await exec(daemon, id, ['touch', `${VOLUME}/written`, `${TOOLS}/written`]);
  t.not(write.code, 0);
  t.regex(write.stderr, /Read-only file system/);
  const ran = await exec(daemon, id, [`${TOOLS}/bin/sh`, '-c', 'echo ran from the image volume']);
  t.is(ran.code, 0, ran.stderr);
  t.is(ran.stdout.trim(), 'ran from the image volume');

  // The container's own view: its mount options field (the sixth) for each volume.
  const mountinfo = (await exec(daemon, id, ['cat', '/proc/self/mountinfo'])).stdout.split('\n');
  for (const where of [VOLUME, TOOLS]) {
    const options =
      mountinfo
        .find((line) => line.split(' ')[4] === where)
        ?.split(' ')[5]
        ?.split(',') ?? [];
    t.true(
      ['ro', 'nosuid', 'nodev'].every((option) => options.includes(option)),
      `${where}: ${options.join(',')}`,
    );
    t.false(options.includes('noexec'), where);
  }

  const { status } = await crictlJson<{
    status: { mounts: Array<{ containerPath: string; readonly: boolean; image?: { image: string; imageRef: string } }> };
  }>(daemon, ['inspect', id]);
  t.like(
    status.mounts.find((mount) => mount.containerPath === VOLUME),
    { readonly: true, image: { image: multilayer.reference, imageRef: multilayer.configDigest } },
  );
  t.like(
    status.mounts.find((mount) => mount.containerPath === TOOLS),
    { image: { image: busybox.reference, imageRef: busybox.configDigest } },
  );

  t.is((await containerMounts(daemon)).length, 3, 'the rootfs and the two volumes');
  const removed = await crictl(daemon, ['rm', '-f', id]);
  t.is(removed.code, 0, removed.stderr);
  t.deepEqual(await containerMounts(daemon), []);
});

test("an image volume's sub-path is resolved inside the image, its absolute symbolic links included", async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { multilayer } = source.images;
  await pull(daemon, multilayer.reference);
  const id = await containerWith(daemon, 'sub-paths', [
    { container_path: '/mnt/etc', image: { image: multilayer.reference }, readonly: true, image_sub_path: 'etc' },
    // links/absolute -> /etc/config: the image's /etc, not the node's.
    { container_path: '/mnt/config', image: { image: multilayer.reference }, readonly: true, image_sub_path: 'links/absolute' },
    { container_path: '/mnt/user', image: { image: multilayer.reference }, readonly: true, image_sub_path: 'links/../home/./user' },
  ]);
  t.is((await exec(daemon, id, ['cat', '/mnt/etc/config'])).stdout.trim(), 'version=2');
  t.not((await exec(daemon, id, ['ls', '/mnt/etc/etc'])).code, 0, 'the sub-path, not the image root');
  t.is((await exec(daemon, id, ['cat', '/mnt/config'])).stdout.trim(), 'version=2');
  t.deepEqual((await exec(daemon, id, ['ls', '/mnt/user'])).stdout.split('\n').filter(Boolean).sort(), ['added-later', 'owned']);

  const { status } = await crictlJson<{ status: { mounts: Array<{ containerPath: string; imageSubPath?: string }> } }>(daemon, ['inspect', id]);
  t.is(status.mounts.find((mount) => mount.containerPath === '/mnt/config')?.imageSubPath, 'links/absolute');
  t.is((await crictl(daemon, ['rm', '-f', id])).code, 0);
  t.deepEqual(await containerMounts(daemon), []);
});

test("a volume's image is in use while its container exists: rmi refuses it, across a SIGKILL of the daemon, and takes it once the container goes", async (t) => {
  const first = await startDaemon(t, { config: source.daemonConfig() });
  const { multilayer } = source.images;
  await pull(first, source.images.busybox.reference);
  const layersBefore = await layerCount(first);
  await pull(first, multilayer.reference);
  const id = await containerWith(first, 'held', [{ container_path: VOLUME, image: { image: multilayer.reference }, readonly: true }]);

  // As for the image a container runs: the image stays, named as in use by the container.
  const refused = await crictl(first, ['rmi', multilayer.reference]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, new RegExp(`code = FailedPrecondition desc = image sha256:\\w+ is in use by container ${id}`));
  t.not((await crictl(first, ['images', '-q', multilayer.reference])).stdout.trim(), '');

  const second = await first.restart('SIGKILL');
  t.teardown(() => second.dispose());
  t.is(await layerCount(second), layersBefore + 3, "the restart's layer collection leaves the volume's layers");
  const after = await exec(second, id, ['cat', `${VOLUME}/etc/config`]);
  t.is(after.stdout.trim(), 'version=2', after.stderr);
  t.not((await crictl(second, ['rmi', multilayer.reference])).code, 0, 'still in use after the restart');

  const gone = await crictl(second, ['rm', '-f', id]);
  t.is(gone.code, 0, gone.stderr);
  t.deepEqual(await containerMounts(second), []);
  const removed = await crictl(second, ['rmi', multilayer.reference]);
  t.is(removed.code, 0, removed.stderr);
  t.is(await layerCount(second), layersBefore, 'the layers go with the image once no container holds them');
});
