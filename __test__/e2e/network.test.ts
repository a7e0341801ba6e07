import test from 'ava';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { startDaemon, type Daemon, type Teardown } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';

/**
 * Pod networking through the real CNI plugins in /usr/lib/cni. Each test has
 * its own config dir, IPAM dir, bridge and private subnet (the daemon helper
 * hands them out); pings go only to addresses of pods the test made.
 */

const EXHAUSTED_BRIDGE = 'crion-e2e30';

interface PodConfig {
  metadata: { name: string; namespace: string; uid: string; attempt: number };
  linux: { security_context: { namespace_options: { pid: number } } };
}

/** A per-container PID namespace (1), so no pause image is needed. */
function podConfig(name: string): PodConfig {
  return {
    metadata: { name, namespace: 'crion-e2e-net', uid: `${name}-uid`, attempt: 0 },
    linux: { security_context: { namespace_options: { pid: 1 } } },
  };
}

async function runPod(daemon: Daemon, name: string): Promise<{ code: number | null; id: string; stderr: string }> {
  const file = path.join(daemon.dir, `${name}.json`);
  await writeFile(file, JSON.stringify(podConfig(name)));
  const result = await crictl(daemon, ['runp', file]);
  return { code: result.code, id: result.stdout.trim(), stderr: result.stderr };
}

interface Inspect {
  status: { network: { ip: string; additionalIps?: unknown[] } };
  info: { namespaces: { net: string } };
}

/**
 * Registered after startDaemon, so it runs before the daemon is disposed (ava runs teardowns last
 * first): removing the pods runs CNI DEL, which undoes their iptables rules.
 */
function removePodsLater(t: Teardown, daemon: Daemon): void {
  t.teardown(async () => {
    await crictl(daemon, ['rmp', '--all', '--force']);
  });
}

/** Registered before startDaemon, so the bridge goes after the daemon; the bridge plugin never deletes it. */
function deleteBridgeLater(t: Teardown, bridge: string): void {
  t.teardown(async () => {
    await run('ip', ['link', 'del', bridge]);
  });
}

async function podMounts(daemon: Daemon): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').filter((line) => line.includes(path.join(daemon.dir, 'state', 'pods', '')));
}

test('pods on the default bridge network get IPs in its subnet, reach each other, and release their IP on stop', async (t) => {
  // The default network with its built-in bridge and subnet, written by the daemon at start as on a fresh node.
  deleteBridgeLater(t, 'crion0');
  const daemon = await startDaemon(t, { builtinNetwork: true });
  removePodsLater(t, daemon);
  const subnetPrefix = '10.88.';
  t.regex(await readFile(path.join(daemon.dir, 'cni', '99-crion-bridge.conflist'), 'utf8'), /"bridge": "crion0"[\s\S]*"subnet": "10\.88\.0\.0\/16"/);
  const cniDir = path.join(daemon.dir, 'cni');
  t.deepEqual(await readdir(cniDir), ['99-crion-bridge.conflist']);

  const info = await crictlJson<{ status: { conditions: Array<{ type: string; status: boolean; message: string }> } }>(daemon, ['info']);
  t.like(
    info.status.conditions.find((condition) => condition.type === 'NetworkReady'),
    { status: true },
  );

  const a = await runPod(daemon, 'net-a');
  t.is(a.code, 0, a.stderr);
  const b = await runPod(daemon, 'net-b');
  t.is(b.code, 0, b.stderr);
  const podA = await crictlJson<Inspect>(daemon, ['inspectp', a.id]);
  const podB = await crictlJson<Inspect>(daemon, ['inspectp', b.id]);
  for (const pod of [podA, podB]) t.true(pod.status.network.ip.startsWith(subnetPrefix), pod.status.network.ip);
  t.not(podA.status.network.ip, podB.status.network.ip);

  const ping = await run('nsenter', [`--net=${podA.info.namespaces.net}`, '/bin/busybox', 'ping', '-c1', '-W2', podB.status.network.ip]);
  t.is(ping.code, 0, `${ping.stdout}${ping.stderr}`);

  const lease = path.join(daemon.dir, 'state', 'cni', 'networks', 'crion', podB.status.network.ip);
  t.is((await readFile(lease, 'utf8')).split(/\r?\n/)[0], b.id, 'host-local leased the IP to pod B');
  const stop = await crictl(daemon, ['stopp', b.id]);
  t.is(stop.code, 0, stop.stderr);
  await t.throwsAsync(readFile(lease, 'utf8'), { code: 'ENOENT' }, 'stopping the pod released its IP');
  t.is((await crictl(daemon, ['stopp', b.id])).code, 0, 'a second stop has nothing to delete and succeeds');
  t.is((await crictl(daemon, ['rmp', b.id])).code, 0);

  // DEL after a restart works from the cached ADD result.
  t.is(await daemon.stop(), 0);
  const restarted = await startDaemon(t, {
    args: ['--root', path.join(daemon.dir, 'root'), '--state', path.join(daemon.dir, 'state'), '--network-cni-config-dir', cniDir],
  });
  removePodsLater(t, restarted);
  const leaseA = path.join(daemon.dir, 'state', 'cni', 'networks', 'crion', podA.status.network.ip);
  t.is((await crictl(restarted, ['inspectp', a.id])).code, 0);
  t.is((await crictl(restarted, ['rmp', '--force', a.id])).code, 0);
  await t.throwsAsync(readFile(leaseA, 'utf8'), { code: 'ENOENT' }, 'removing the pod after a restart released its IP');
});

test("a failing plugin fails RunPodSandbox with the plugin's message and leaves no pin or veth", async (t) => {
  deleteBridgeLater(t, EXHAUSTED_BRIDGE);
  const daemon = await startDaemon(t, { args: ['--network-init-default-network', 'false'] });
  removePodsLater(t, daemon);
  // Written after the start: config changes are picked up while running. A /30 leaves one address besides the gateway.
  await mkdir(path.join(daemon.dir, 'cni'));
  await writeFile(
    path.join(daemon.dir, 'cni', '10-small.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'small',
      plugins: [
        {
          type: 'bridge',
          bridge: EXHAUSTED_BRIDGE,
          isGateway: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.46.0/30' }]], dataDir: path.join(daemon.dir, 'state', 'cni', 'networks') },
        },
      ],
    }),
  );
  const first = await runPod(daemon, 'small-1');
  t.is(first.code, 0, first.stderr);
  const { status } = await crictlJson<Inspect>(daemon, ['inspectp', first.id]);
  t.is(status.network.ip, '10.123.46.2');

  const mountsBefore = await podMounts(daemon);
  const portsBefore = (await run('ip', ['-o', 'link', 'show', 'master', EXHAUSTED_BRIDGE])).stdout;
  const second = await runPod(daemon, 'small-2');
  t.not(second.code, 0);
  t.regex(second.stderr, /Unavailable desc = CNI plugin .*bridge.* of network .*small.* failed ADD: .*no IP addresses available in range set/);
  t.deepEqual(await podMounts(daemon), mountsBefore, 'no namespace pin is left');
  t.is((await run('ip', ['-o', 'link', 'show', 'master', EXHAUSTED_BRIDGE])).stdout, portsBefore, 'no veth is left on the bridge');
  t.is((await readdir(path.join(daemon.dir, 'state', 'pods'))).length, 1);
});
