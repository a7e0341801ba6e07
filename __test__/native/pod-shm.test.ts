import type { ExecutionContext } from 'ava';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mountPodShm, NativeError, unmountPodShm } from '../../src/native/index.js';
import { root, testNeeding } from '../helpers/host-requirements.js';
import { run } from '../helpers/process.js';

const rootTest = testNeeding(root);

async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-shm-'));
  t.teardown(async () => {
    await run('umount', ['--lazy', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** The mountinfo line of `target`'s topmost mount, split into fields; null when nothing is mounted there. */
async function mountOf(target: string): Promise<string[] | null> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).trim().split('\n');
  const line = lines.reverse().find((candidate) => candidate.split(' ')[4] === target);
  return line === undefined ? null : line.split(' ');
}

rootTest('a pod shm is a tmpfs of the given size, sticky and world-writable, without exec, suid or devices', async (t) => {
  const dir = await scratch(t);
  await mountPodShm(dir, 64 * 1024 * 1024);
  const fields = await mountOf(dir);
  t.truthy(fields, 'mounted');
  const separator = fields!.indexOf('-');
  t.is(fields![separator + 1], 'tmpfs');
  t.is(fields![separator + 2], 'shm');
  t.true(fields![separator + 3]!.split(',').includes('size=65536k'), fields![separator + 3]);
  for (const option of ['nosuid', 'nodev', 'noexec']) t.true(fields![5]!.split(',').includes(option), fields![5]);
  t.is((await stat(dir)).mode & 0o7777, 0o1777);
  await writeFile(path.join(dir, 'segment'), 'shared');
});

rootTest('unmounting twice, or a path that does not exist, succeeds', async (t) => {
  const dir = await scratch(t);
  await mountPodShm(dir, 1024 * 1024);
  await unmountPodShm(dir);
  t.is(await mountOf(dir), null);
  await unmountPodShm(dir);
  await unmountPodShm(path.join(dir, 'missing'));
});

rootTest('mounting on a missing directory rejects with ERR_POD_SHM_MOUNT naming it', async (t) => {
  const missing = path.join(await scratch(t), 'missing');
  const error = await t.throwsAsync(mountPodShm(missing, 1024), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_POD_SHM_MOUNT');
  t.true(error?.message.includes(missing), error?.message);
});
