import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HandlerFeatureTable, kernelRecursiveReadOnly, probeHandlerFeatures, type HandlerFeatures } from '../../src/runtime/handler-features.js';
import { reportRuntimeStatus } from '../../src/runtime/runtime-status.js';
import { resolveCgroupDriver } from '../../src/runtime/cgroup-driver.js';
import { findExecutable } from '../../src/runtime/executable.js';

const noNetwork = async () => ({ ready: false, message: 'no valid CNI network config in /etc/cni/net.d' });
const NO_RRO: HandlerFeatures = { recursiveReadOnlyMounts: { available: false, reason: 'no rro' } };
const noFeatures = async (): Promise<HandlerFeatures> => NO_RRO;

async function fakeRuntimeBinary(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-status-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const binary = path.join(dir, 'fake-runc');
  await writeFile(binary, '#!/bin/sh\n');
  await chmod(binary, 0o755);
  return binary;
}

test('RuntimeReady holds when the default handler is installed; the default is listed under the empty name', async (t) => {
  const binary = await fakeRuntimeBinary(t);
  const report = await reportRuntimeStatus(
    {
      defaultHandler: 'runc',
      handlers: { runc: { path: binary, root: '/run/runc' }, absent: { path: '/nonexistent/absent', root: '/run/absent' } },
      networkReadiness: noNetwork,
      features: noFeatures,
      verboseInfo: () => ({}),
    },
    false,
  );
  t.like(
    report.conditions.find((condition) => condition.type === 'RuntimeReady'),
    { status: true, reason: '' },
  );
  t.deepEqual(
    report.handlers.map((handler) => handler.name),
    ['', 'runc'],
    'handlers that are not installed are not offered to the kubelet',
  );
  t.is(report.info, null);
});

test('RuntimeReady is false with a reason when the default handler is missing', async (t) => {
  const report = await reportRuntimeStatus(
    {
      defaultHandler: 'runc',
      handlers: { runc: { path: '/nonexistent/runc', root: '/run/runc' } },
      networkReadiness: noNetwork,
      features: noFeatures,
      verboseInfo: () => ({}),
    },
    false,
  );
  const ready = report.conditions.find((condition) => condition.type === 'RuntimeReady');
  t.false(ready?.status);
  t.is(ready?.reason, 'OCIRuntimeNotFound');
  t.regex(ready?.message ?? '', /\/nonexistent\/runc/);
  t.deepEqual(report.handlers, []);
});

test('NetworkReady is false with NetworkPluginNotReady and the reason until a network is usable', async (t) => {
  const report = await reportRuntimeStatus(
    { defaultHandler: 'runc', handlers: {}, networkReadiness: noNetwork, features: noFeatures, verboseInfo: () => ({}) },
    false,
  );
  const network = report.conditions.find((condition) => condition.type === 'NetworkReady');
  t.false(network?.status);
  t.is(network?.reason, 'NetworkPluginNotReady');
  t.regex(network?.message ?? '', /\/etc\/cni\/net\.d/);
});

test('NetworkReady holds when the network reports itself ready', async (t) => {
  const report = await reportRuntimeStatus(
    {
      defaultHandler: 'runc',
      handlers: {},
      networkReadiness: async () => ({ ready: true, message: '' }),
      features: noFeatures,
      verboseInfo: () => ({}),
    },
    false,
  );
  t.like(
    report.conditions.find((condition) => condition.type === 'NetworkReady'),
    { status: true, reason: '', message: '' },
  );
});

test('verbose info carries JSON values, including how each handler resolved', async (t) => {
  const binary = await fakeRuntimeBinary(t);
  const report = await reportRuntimeStatus(
    {
      defaultHandler: 'runc',
      handlers: { runc: { path: binary, root: '/run/runc' } },
      networkReadiness: noNetwork,
      features: noFeatures,
      verboseInfo: () => ({ hostProbe: { pidfd: true } }),
    },
    true,
  );
  t.deepEqual(JSON.parse(report.info!.hostProbe!), { pidfd: true });
  t.deepEqual(JSON.parse(report.info!.ociRuntimes!), { runc: { configuredPath: binary, binary, root: '/run/runc', features: NO_RRO } });
});

test('findExecutable searches PATH for bare names and takes paths as they are', async (t) => {
  const binary = await fakeRuntimeBinary(t);
  t.is(await findExecutable('fake-runc', `/nonexistent:${path.dirname(binary)}`), binary);
  t.is(await findExecutable(binary, ''), binary);
  t.is(await findExecutable('fake-runc', '/nonexistent'), null);
  t.is(await findExecutable(path.dirname(binary), ''), null, 'a directory is not an executable');
});

test('the cgroup driver follows the init system only when set to auto', async (t) => {
  t.is(await resolveCgroupDriver('auto', async () => true), 'systemd');
  t.is(await resolveCgroupDriver('auto', async () => false), 'cgroupfs');
  t.is(await resolveCgroupDriver('cgroupfs', async () => true), 'cgroupfs');
  t.is(await resolveCgroupDriver('systemd', async () => false), 'systemd');
});

test("Status reports each handler's recursive read-only support, the default one under the empty name with its own", async (t) => {
  const binary = await fakeRuntimeBinary(t);
  const asked: string[] = [];
  const report = await reportRuntimeStatus(
    {
      defaultHandler: 'runc',
      handlers: { runc: { path: binary, root: '/run/runc' }, old: { path: binary, root: '/run/old' } },
      networkReadiness: noNetwork,
      features: async (name) => {
        asked.push(name);
        return name === 'runc' ? { recursiveReadOnlyMounts: { available: true } } : NO_RRO;
      },
      verboseInfo: () => ({}),
    },
    false,
  );
  t.deepEqual(report.handlers, [
    { name: '', recursiveReadOnlyMounts: true, userNamespaces: false },
    { name: 'runc', recursiveReadOnlyMounts: true, userNamespaces: false },
    { name: 'old', recursiveReadOnlyMounts: false, userNamespaces: false },
  ]);
  t.deepEqual(asked.sort(), ['old', 'runc', 'runc'], "the empty name is answered with the default handler's features");
});

test('the kernel makes recursive read-only mounts from 5.12, which brought mount_setattr', (t) => {
  t.deepEqual(kernelRecursiveReadOnly('6.18.44-fc-v1300'), { available: true });
  t.deepEqual(kernelRecursiveReadOnly('5.12.0'), { available: true });
  t.deepEqual(kernelRecursiveReadOnly('5.10.0-28-amd64'), {
    available: false,
    reason: 'kernel 5.10.0-28-amd64 has no mount_setattr(2) (needs Linux 5.12)',
  });
  t.like(kernelRecursiveReadOnly('4.19.0'), { available: false });
  t.like(kernelRecursiveReadOnly('garbage'), { available: false, reason: 'cannot read the kernel release "garbage"' });
});

/** A runtime whose `features` prints `output` (or fails with `stderr` when output is null), as a shell script. */
async function fakeFeatures(t: { teardown(fn: () => Promise<void>): void }, output: string | null, stderr = ''): Promise<string> {
  const binary = await fakeRuntimeBinary(t);
  const body = output === null ? `echo '${stderr}' >&2\nexit 1` : `[ "$1" = features ] || exit 2\ncat <<'EOF'\n${output}\nEOF`;
  await writeFile(binary, `#!/bin/sh\n${body}\n`);
  return binary;
}

const KERNEL_OK = { available: true } as const;

test('a handler has recursive read-only mounts when its `features` lists rro and the kernel can', async (t) => {
  const runc11 = await fakeFeatures(t, JSON.stringify({ ociVersionMin: '1.0.0', mountOptions: ['ro', 'rbind', 'rro', 'rrw'] }));
  t.deepEqual(await probeHandlerFeatures(runc11, KERNEL_OK), { recursiveReadOnlyMounts: { available: true } });
  const oldKernel = { available: false, reason: 'kernel 5.10.0 has no mount_setattr(2) (needs Linux 5.12)' } as const;
  t.deepEqual(await probeHandlerFeatures(runc11, oldKernel), { recursiveReadOnlyMounts: oldKernel }, 'the kernel decides too');
});

test('a handler whose `features` lacks rro, leaves mountOptions out, fails or prints no JSON has none, and says why', async (t) => {
  const withoutRro = await fakeFeatures(t, JSON.stringify({ mountOptions: ['ro', 'rbind'] }));
  t.deepEqual(await probeHandlerFeatures(withoutRro, KERNEL_OK), {
    recursiveReadOnlyMounts: { available: false, reason: `\`${withoutRro} features\` does not list the rro mount option (runc has it from 1.1)` },
  });
  const silent = await fakeFeatures(t, JSON.stringify({ ociVersionMin: '1.0.0' }));
  t.like((await probeHandlerFeatures(silent, KERNEL_OK)).recursiveReadOnlyMounts, { available: false });
  const runc10 = await fakeFeatures(t, null, 'No help topic for features');
  t.deepEqual(await probeHandlerFeatures(runc10, KERNEL_OK), {
    recursiveReadOnlyMounts: { available: false, reason: `\`${runc10} features\` failed: No help topic for features` },
  });
  const notJson = await fakeFeatures(t, 'features: rro');
  t.deepEqual(await probeHandlerFeatures(notJson, KERNEL_OK), {
    recursiveReadOnlyMounts: { available: false, reason: `\`${notJson} features\` failed: its output is not JSON` },
  });
});

test('the feature table probes each installed handler once, at once, and answers for unknown and missing ones', async (t) => {
  const calls: string[] = [];
  const table = new HandlerFeatureTable(
    [
      { name: 'runc', configuredPath: 'runc', binary: '/usr/sbin/runc', root: '/run/runc' },
      { name: 'absent', configuredPath: '/nonexistent/crun', binary: null, root: '/run/crun' },
    ],
    '6.1.0',
    async (binary) => {
      calls.push(binary);
      return JSON.stringify({ mountOptions: ['rro'] });
    },
  );
  t.deepEqual(calls, ['/usr/sbin/runc'], 'probed when the table is made, before anyone asks');
  t.deepEqual(await table.of('runc'), { recursiveReadOnlyMounts: { available: true } });
  t.deepEqual(await table.of('runc'), { recursiveReadOnlyMounts: { available: true } });
  t.deepEqual(calls, ['/usr/sbin/runc'], 'and never again');
  t.deepEqual(await table.of('absent'), { recursiveReadOnlyMounts: { available: false, reason: 'the runtime is not installed' } });
  t.deepEqual(await table.of('kata'), { recursiveReadOnlyMounts: { available: false, reason: 'runtime handler "kata" is not configured' } });
  t.deepEqual(Object.keys(await table.all()).sort(), ['absent', 'runc']);
});
