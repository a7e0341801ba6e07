import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { reportRuntimeStatus } from '../../src/runtime/runtime-status.js';
import { resolveCgroupDriver } from '../../src/runtime/cgroup-driver.js';
import { findExecutable } from '../../src/runtime/executable.js';

const noNetwork = async () => ({ ready: false, message: 'no valid CNI network config in /etc/cni/net.d' });

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
  const report = await reportRuntimeStatus({ defaultHandler: 'runc', handlers: {}, networkReadiness: noNetwork, verboseInfo: () => ({}) }, false);
  const network = report.conditions.find((condition) => condition.type === 'NetworkReady');
  t.false(network?.status);
  t.is(network?.reason, 'NetworkPluginNotReady');
  t.regex(network?.message ?? '', /\/etc\/cni\/net\.d/);
});

test('NetworkReady holds when the network reports itself ready', async (t) => {
  const report = await reportRuntimeStatus(
    { defaultHandler: 'runc', handlers: {}, networkReadiness: async () => ({ ready: true, message: '' }), verboseInfo: () => ({}) },
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
      verboseInfo: () => ({ hostProbe: { pidfd: true } }),
    },
    true,
  );
  t.deepEqual(JSON.parse(report.info!.hostProbe!), { pidfd: true });
  t.deepEqual(JSON.parse(report.info!.ociRuntimes!), { runc: { configuredPath: binary, binary, root: '/run/runc' } });
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
