import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { applyRootfsDiff, writeCheckpointFiles } from '../../src/checkpoint/checkpoint-archive.js';
import type { OciSpec } from '../../src/oci/index.js';
import { root, testNeeding } from '../helpers/host-requirements.js';

/**
 * The writable layer's way through an archive: captured from one upper
 * directory and applied to another, whiteouts and file capabilities
 * included, and a crafted archive kept from writing outside the layer.
 * Whiteouts are character devices and capabilities `security.*` xattrs, so
 * this needs root.
 */

const run = promisify(execFile);
const asRoot = testNeeding(root);

const CONTAINER = {
  id: 'c1',
  name: 'app',
  rootfsImage: 'sha256:1',
  rootfsImageRef: 'sha256:1',
  rootfsImageName: 'busybox',
  runtime: 'runc',
  createdTime: '2026-12-07T00:00:00.000Z',
  checkpointedTime: '2026-12-07T00:00:01.000Z',
};
const CAPABILITY = '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `crion-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function xattrs(file: string): Promise<string> {
  return (await run('getfattr', ['--absolute-names', '--dump', '--match=-', file])).stdout;
}

asRoot('a writable layer comes back with its files, whiteouts and capabilities, and without overlayfs bookkeeping', async (t) => {
  const upper = await tempDir(t, 'upper');
  await mkdir(path.join(upper, 'etc', 'app'), { recursive: true });
  await writeFile(path.join(upper, 'etc', 'app', 'conf'), 'written');
  await writeFile(path.join(upper, 'ping'), 'binary');
  await run('setfattr', ['-n', 'security.capability', '-v', CAPABILITY, path.join(upper, 'ping')]);
  await run('setfattr', ['-n', 'trusted.overlay.origin', '-v', 'stale', path.join(upper, 'etc')]);
  await run('mknod', [path.join(upper, 'etc', 'motd'), 'c', '0', '0']);

  const staging = await tempDir(t, 'staging');
  await writeCheckpointFiles(staging, CONTAINER, { ociVersion: '1.0.2' } as OciSpec, upper);
  t.deepEqual(JSON.parse(await readFile(path.join(staging, 'deleted.files'), 'utf8')), ['etc/motd']);
  t.deepEqual(JSON.parse(await readFile(path.join(staging, 'config.dump'), 'utf8')), CONTAINER);

  const restored = await tempDir(t, 'restored');
  await applyRootfsDiff(staging, restored);
  t.is(await readFile(path.join(restored, 'etc', 'app', 'conf'), 'utf8'), 'written');
  const motd = await lstat(path.join(restored, 'etc', 'motd'));
  t.true(motd.isCharacterDevice() && motd.rdev === 0, 'the deleted file is a whiteout again');
  t.regex(await xattrs(path.join(restored, 'ping')), new RegExp(`security.capability=${CAPABILITY}`));
  t.notRegex(await xattrs(path.join(restored, 'etc')), /trusted\.overlay/);
  t.deepEqual((await readdir(staging)).sort(), ['config.dump', 'spec.dump'], 'the applied parts leave the unpacked archive');
});

asRoot('a deleted file below a symlink the archive brought is refused, and nothing is made where the link points', async (t) => {
  const outside = await tempDir(t, 'outside');
  const crafted = await tempDir(t, 'crafted');
  await symlink(outside, path.join(crafted, 'escape'));
  const unpacked = await tempDir(t, 'unpacked');
  await run('tar', ['--create', '--file', path.join(unpacked, 'rootfs-diff.tar'), '--directory', crafted, 'escape']);
  await writeFile(path.join(unpacked, 'deleted.files'), JSON.stringify(['escape/passwd']));

  const upper = await tempDir(t, 'upper');
  await t.throwsAsync(applyRootfsDiff(unpacked, upper), {
    name: 'InvalidArgumentError',
    message: 'deleted.files: escape/passwd is below escape, which is not a directory',
  });
  t.deepEqual(await readdir(outside), []);
});

asRoot('deleted.files naming a path out of the layer is refused', async (t) => {
  const unpacked = await tempDir(t, 'unpacked');
  const upper = await tempDir(t, 'upper');
  for (const entry of ['../x', '/etc/passwd', '', 7]) {
    await writeFile(path.join(unpacked, 'deleted.files'), JSON.stringify([entry]));
    await t.throwsAsync(applyRootfsDiff(unpacked, upper), { name: 'InvalidArgumentError', message: /is not a path inside the container/ });
  }
  t.deepEqual(await readdir(upper), []);
});
