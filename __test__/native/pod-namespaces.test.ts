import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  createPodNamespaces,
  NativeError,
  preparePrivateMountDir,
  removePodNamespaces,
  type PodNamespacesAddon,
  type PodNamespacesRequest,
} from '../../src/native/index.js';
import { root, testNeeding } from '../helpers/host-requirements.js';
import { namespaceDir } from '../helpers/namespace-dir.js';
import { run } from '../helpers/process.js';

const rootTest = testNeeding(root);

async function sh(command: string, args: string[]): Promise<string> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** What /proc/self/mountinfo lists at or below `dir`, as mount points. */
async function mountsUnder(dir: string): Promise<string[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean);
  return lines.map((line) => line.split(' ')[4] ?? '').filter((point) => point === dir || point.startsWith(`${dir}/`));
}


function request(dir: string, overrides: Partial<PodNamespacesRequest> = {}): PodNamespacesRequest {
  return { dir, net: true, ipc: true, uts: true, hostname: null, sysctls: {}, ...overrides };
}

rootTest('a pod gets its own lo, hostname and sysctls, visible to nsenter, and removal leaves nothing', async (t) => {
  const dir = await namespaceDir(t);
  const hostShmmax = await readFile('/proc/sys/kernel/shmmax', 'utf8');
  const hostName = os.hostname();

  const pins = await createPodNamespaces(
    request(dir, {
      hostname: 'pod-a',
      sysctls: { 'kernel.shmmax': '123456789', 'net.ipv4.ip_unprivileged_port_start': '80' },
    }),
  );
  t.deepEqual(pins, { net: `${dir}/net`, ipc: `${dir}/ipc`, uts: `${dir}/uts` });
  t.deepEqual((await mountsUnder(dir)).sort(), [dir, `${dir}/ipc`, `${dir}/net`, `${dir}/uts`]);

  const links = (await sh('nsenter', [`--net=${dir}/net`, 'ip', '-o', 'link'])).split('\n');
  t.is(links.length, 1, links.join('\n'));
  t.regex(links[0] ?? '', /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  t.is(await sh('nsenter', [`--uts=${dir}/uts`, 'hostname']), 'pod-a');
  t.is(await sh('nsenter', [`--ipc=${dir}/ipc`, 'cat', '/proc/sys/kernel/shmmax']), '123456789');
  t.is(await sh('nsenter', [`--net=${dir}/net`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start']), '80');

  t.is(await readFile('/proc/sys/kernel/shmmax', 'utf8'), hostShmmax, "the host's shmmax is untouched");
  t.is(os.hostname(), hostName, "the host's name is untouched");

  await removePodNamespaces(dir);
  t.deepEqual(await mountsUnder(dir), [dir]);
  t.deepEqual(await readdir(dir), []);
  await t.notThrowsAsync(removePodNamespaces(dir), 'removal is idempotent');
});

rootTest('two pods get two network namespaces, neither the host one', async (t) => {
  const root = await namespaceDir(t);
  const inodes: string[] = [];
  for (const pod of ['a', 'b']) {
    const dir = path.join(root, pod);
    await sh('mkdir', [dir]);
    const pins = await createPodNamespaces(request(dir, { ipc: false, uts: false }));
    t.deepEqual(pins, { net: `${dir}/net`, ipc: null, uts: null });
    inodes.push(await sh('nsenter', [`--net=${dir}/net`, 'stat', '-L', '-c', '%i', '/proc/self/ns/net']));
    t.teardown(() => removePodNamespaces(dir));
  }
  inodes.push(await sh('stat', ['-L', '-c', '%i', '/proc/self/ns/net']));
  t.is(new Set(inodes).size, 3, inodes.join(' '));
});

rootTest('a sysctl the kernel lacks rejects with ERR_POD_NS_SYSCTL and leaves no pin or mount', async (t) => {
  const dir = await namespaceDir(t);
  const error = await t.throwsAsync(
    createPodNamespaces(request(dir, { hostname: 'pod', sysctls: { 'net.ipv4.crion_no_such_knob': '1' } })),
    { instanceOf: NativeError },
  );
  t.is(error?.code, 'ERR_POD_NS_SYSCTL');
  t.regex(error?.message ?? '', /\/proc\/sys\/net\/ipv4\/crion_no_such_knob: No such file or directory/);
  t.deepEqual(await readdir(dir), []);
  t.deepEqual(await mountsUnder(dir), [dir]);
});

rootTest('a pin file left from before rejects with ERR_POD_NS_PIN and undoes the pins made first', async (t) => {
  const dir = await namespaceDir(t);
  await writeFile(path.join(dir, 'uts'), '');
  const error = await t.throwsAsync(createPodNamespaces(request(dir)), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_POD_NS_PIN');
  t.deepEqual(await readdir(dir), ['uts']);
  t.deepEqual(await mountsUnder(dir), [dir]);
});

test('a hostname or sysctl that would change the host is refused with ERR_POD_NS_INVALID', async (t) => {
  const dir = '/run/crion-test/never-made';
  const refused: Partial<PodNamespacesRequest>[] = [
    { uts: false, hostname: 'pod' },
    { net: false, sysctls: { 'net.ipv4.ip_forward': '1' } },
    { ipc: false, sysctls: { 'kernel.msgmax': '1' } },
    { sysctls: { 'kernel.panic': '1' } },
  ];
  for (const overrides of refused) {
    const error = await t.throwsAsync(createPodNamespaces(request(dir, overrides)), { instanceOf: NativeError });
    t.is(error?.code, 'ERR_POD_NS_INVALID', JSON.stringify(overrides));
  }
});

rootTest('preparing the private mount dir twice leaves one private mount', async (t) => {
  const dir = await namespaceDir(t);
  await preparePrivateMountDir(dir);
  const entries = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .filter((line) => line.split(' ')[4] === dir);
  t.is(entries.length, 1);
  t.notRegex(entries[0] ?? '', / (shared|master):\d+ /);
});

test('errors from an injected addon are rebuilt as NativeError with their code', async (t) => {
  const fake: PodNamespacesAddon = {
    createPodNamespaces: () => Promise.reject(Object.assign(new Error('boom'), { code: 'ERR_POD_NS_UNSHARE' })),
    removePodNamespaces: () => Promise.resolve(),
    preparePrivateMountDir: () => Promise.resolve(),
  };
  const error = await t.throwsAsync(createPodNamespaces(request('/x'), fake), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_POD_NS_UNSHARE');
  t.is(error?.message, 'boom');
});
