import test from 'ava';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log/logger.js';
import { loadNetworkConfigs, selectDefaultNetwork } from '../../src/network/cni-config.js';
import net from 'node:net';
import { atLeastVersion } from '../../src/network/cni-exec.js';
import { applyPodCidr, DEFAULT_NETWORK_FILE, initDefaultNetwork } from '../../src/network/default-network.js';
import { PodNetworks } from '../../src/network/pod-networks.js';
import { hostPort } from '../helpers/host-ports.js';

/** Each a port the daemon really binds, from this file's block (see host-ports.ts). */
const ATTACHED_PORT = hostPort('network-cni', 0);
const HELD_PORT = hostPort('network-cni', 1);
const FAILED_ADD_PORT = hostPort('network-cni', 2);
const RESUMED_PORT = hostPort('network-cni', 3);
const OLD_CACHE_PORT = hostPort('network-cni', 4);

/** Network config loading and selection, and the CNI protocol as a fake plugin sees it. */

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-cni-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function capturedLogger() {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { log: createLogger({ level: 'info', format: 'json', destination: output }), text: () => text };
}

/**
 * A plugin that appends its CNI_* environment and stdin to calls.jsonl and
 * prints a result with two IPs; a file fail-<command> next to it makes it
 * print the spec's error object instead (plugins get no other environment).
 */
async function fakePlugin(dir: string, type: string, ip: string): Promise<void> {
  await writeFile(
    path.join(dir, type),
    `#!/bin/sh
stdin=$(cat)
printf '{"type":"%s","command":"%s","containerId":"%s","netns":"%s","ifname":"%s","path":"%s","args":"%s","stdin":%s}\\n' \\
  "${type}" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" "$CNI_ARGS" "$stdin" >> "${dir}/calls.jsonl"
if [ -e "${dir}/fail-$CNI_COMMAND" ]; then
  echo '{"cniVersion":"1.0.0","code":11,"msg":"no IP addresses available in range set","details":"10.1.0.0/30"}'
  exit 1
fi
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"${ip}/24"},{"address":"fd00::5/64"}]}'
exit 0
`,
  );
  await chmod(path.join(dir, type), 0o755);
}

interface Call {
  type: string;
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  path: string;
  args: string;
  stdin: Record<string, unknown>;
}

async function calls(dir: string): Promise<Call[]> {
  const text = await readFile(path.join(dir, 'calls.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Call);
}

const chain = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'testnet',
  plugins: [
    { type: 'fake-bridge', bridge: 'br9' },
    { type: 'fake-portmap', capabilities: { portMappings: true } },
  ],
});

test('configs load in lexical order; invalid files are reported with their reason and skipped', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '20-second.conflist'), chain.replace('testnet', 'second'));
  await writeFile(path.join(dir, '10-broken.conflist'), '{ not json');
  await writeFile(path.join(dir, '15-empty.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'empty', plugins: [] }));
  await writeFile(path.join(dir, '30-single.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge' }));
  await writeFile(path.join(dir, 'README.md'), 'not a network');
  const { networks, invalid } = await loadNetworkConfigs(dir);
  t.deepEqual(
    networks.map((network) => network.name),
    ['second', 'single'],
  );
  t.deepEqual(networks[1]!.plugins, [{ cniVersion: '0.4.0', name: 'single', type: 'bridge' }]);
  t.deepEqual(
    invalid.map((file) => path.basename(file.file)),
    ['10-broken.conflist', '15-empty.conflist'],
  );
  t.regex(invalid[0]!.reason, /not JSON/);
  t.regex(invalid[1]!.reason, /plugins/);

  t.is(selectDefaultNetwork(networks, '')?.name, 'second', 'the first file wins without a configured name');
  t.is(selectDefaultNetwork(networks, 'single')?.name, 'single');
  t.is(selectDefaultNetwork(networks, 'absent'), null);
  t.deepEqual(await loadNetworkConfigs(path.join(dir, 'missing')), { networks: [], invalid: [] });
});

test('ADD runs the chain in order with prevResult and runtimeConfig; DEL runs it in reverse with the cached result', async (t) => {
  const dir = await tempDir(t);
  const confDir = path.join(dir, 'net.d');
  const binDir = path.join(dir, 'bin');
  await mkdir(confDir);
  await mkdir(binDir);
  await writeFile(path.join(confDir, '10-test.conflist'), chain);
  await fakePlugin(binDir, 'fake-bridge', '10.1.0.7');
  await fakePlugin(binDir, 'fake-portmap', '10.1.0.7');
  const { log } = capturedLogger();
  const networks = new PodNetworks({ configDir: () => confDir, pluginDirs: () => [path.join(dir, 'none'), binDir], defaultNetwork: () => '', log });
  t.teardown(() => networks.close());
  t.deepEqual(await networks.readiness(), { ready: true, message: '' });

  const cacheFile = path.join(dir, 'network.json');
  const ips = await networks.attach({
    sandboxId: 'pod1',
    name: 'web',
    namespace: 'default',
    uid: 'uid-1',
    netns: '/run/crion/pods/pod1/ns/net',
    portMappings: [{ hostPort: ATTACHED_PORT, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }],
    dns: null,
    annotations: {},
    cacheFile,
  });
  t.deepEqual(ips, ['10.1.0.7', 'fd00::5']);
  const [bridgeAdd, portmapAdd] = await calls(binDir);
  t.like(bridgeAdd, {
    type: 'fake-bridge',
    command: 'ADD',
    containerId: 'pod1',
    netns: '/run/crion/pods/pod1/ns/net',
    ifname: 'eth0',
    path: `${path.join(dir, 'none')}:${binDir}`,
    args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;K8S_POD_UID=uid-1',
  });
  t.deepEqual(bridgeAdd!.stdin, { type: 'fake-bridge', bridge: 'br9', name: 'testnet', cniVersion: '1.0.0' }, 'no capabilities, no runtimeConfig');
  t.like(portmapAdd!.stdin, {
    name: 'testnet',
    prevResult: { ips: [{ address: '10.1.0.7/24' }, { address: 'fd00::5/64' }] },
    runtimeConfig: { portMappings: [{ hostPort: ATTACHED_PORT, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }] },
  });

  // DEL works from the cache even after the config dir lost the network.
  await rm(path.join(confDir, '10-test.conflist'));
  await networks.detach(cacheFile);
  const dels = (await calls(binDir)).slice(2);
  t.deepEqual(
    dels.map((call) => `${call.type} ${call.command}`),
    ['fake-portmap DEL', 'fake-bridge DEL'],
  );
  t.like(dels[1]!.stdin, { prevResult: { ips: [{ address: '10.1.0.7/24' }, { address: 'fd00::5/64' }] } });
  await networks.detach(cacheFile);
  t.is((await calls(binDir)).length, 4, 'a second detach has nothing left to delete');
});

test("a failing plugin's error message becomes the error, and the chain is deleted again", async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '10-test.conflist'), chain);
  await fakePlugin(dir, 'fake-bridge', '10.1.0.7');
  await fakePlugin(dir, 'fake-portmap', '10.1.0.7');
  await writeFile(path.join(dir, 'fail-ADD'), '');
  const { log } = capturedLogger();
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log });
  const cacheFile = path.join(dir, 'network.json');
  const request = {
    sandboxId: 'pod2',
    name: 'web',
    namespace: 'default',
    uid: 'uid-2',
    netns: '/x',
    portMappings: [],
    dns: null,
    annotations: {},
    cacheFile,
  };
  const error = await t.throwsAsync(networks.attach(request));
  t.is(error?.name, 'UnavailableError');
  t.regex(error?.message ?? '', /fake-bridge.*no IP addresses available in range set: 10\.1\.0\.0\/30/);
  t.deepEqual(
    (await calls(dir)).map((call) => `${call.type} ${call.command}`),
    ['fake-bridge ADD', 'fake-portmap DEL', 'fake-bridge DEL'],
  );
  t.false((await readdir(dir)).includes('network.json'), 'a failed ADD is not cached');
  await networks.detach(cacheFile);
  t.is((await calls(dir)).length, 3, 'so a later stop has nothing to delete');
});

test('readiness names the config dir, or the plugins that are missing', async (t) => {
  const dir = await tempDir(t);
  const { log, text } = capturedLogger();
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log });
  const empty = await networks.readiness();
  t.false(empty.ready);
  t.true(empty.message.includes(dir));
  await writeFile(path.join(dir, '05-bad.conf'), '[]');
  await writeFile(path.join(dir, '10-test.conflist'), chain);
  const missing = await networks.readiness();
  t.false(missing.ready);
  t.regex(missing.message, /fake-bridge, fake-portmap/);
  await networks.readiness();
  t.is(text().match(/05-bad\.conf/g)?.length, 1, 'an invalid file is logged once, not on every Status call');
  t.regex(text(), /not a JSON object/);
});

test('the default network is written only into a directory without network configs', async (t) => {
  const dir = await tempDir(t);
  const options = { configDir: path.join(dir, 'net.d'), subnet: '10.123.7.0/24', bridge: 'crion-u1', ipamDataDir: path.join(dir, 'ipam') };
  const written = await initDefaultNetwork(options);
  t.is(written, path.join(dir, 'net.d', DEFAULT_NETWORK_FILE));
  const [network] = (await loadNetworkConfigs(options.configDir)).networks;
  t.deepEqual(
    network?.plugins.map((plugin) => plugin.type),
    ['bridge', 'portmap'],
  );
  t.like(network?.plugins[0], {
    bridge: 'crion-u1',
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.7.0/24' }]], dataDir: options.ipamDataDir },
  });
  t.like(network?.plugins[1], { capabilities: { portMappings: true } });
  t.is(await initDefaultNetwork({ ...options, subnet: '10.99.0.0/16' }), null);
});

test('a plugin killed by a signal (as a hung one is after its timeout) fails the ADD saying so', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '10-test.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'killed', type: 'fake-killed' }));
  await writeFile(path.join(dir, 'fake-killed'), '#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && kill -9 $$\nexit 0\n');
  await chmod(path.join(dir, 'fake-killed'), 0o755);
  const { log } = capturedLogger();
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log });
  const cacheFile = path.join(dir, 'network.json');
  const request = {
    sandboxId: 'pod3',
    name: 'web',
    namespace: 'default',
    uid: 'uid-3',
    netns: '/x',
    portMappings: [],
    dns: null,
    annotations: {},
    cacheFile,
  };
  await t.throwsAsync(networks.attach(request), { message: /"fake-killed" of network "killed" failed ADD: killed by SIGKILL/ });
});

/** A network of the two fake plugins in one dir, which is also the plugin dir. */
async function fakeNetwork(t: { teardown(fn: () => Promise<void>): void }, cniVersion = '1.0.0') {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '10-test.conflist'), chain.replace('"1.0.0"', JSON.stringify(cniVersion)));
  await fakePlugin(dir, 'fake-bridge', '10.1.0.7');
  await fakePlugin(dir, 'fake-portmap', '10.1.0.7');
  const logged = capturedLogger();
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log: logged.log });
  t.teardown(() => networks.close());
  const pod = (id: string, hostPort: number) => ({
    sandboxId: id,
    name: id,
    namespace: 'default',
    uid: `${id}-uid`,
    netns: '/x',
    portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }],
    dns: null,
    annotations: {},
    cacheFile: path.join(dir, `${id}.json`),
  });
  return { dir, networks, pod, logText: logged.text };
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

test('a host port is held from ADD until DEL: a second pod asking for it fails before any plugin runs', async (t) => {
  const { dir, networks, pod } = await fakeNetwork(t);
  const first = pod('first', HELD_PORT);
  await networks.attach(first);
  t.false(await canListen(HELD_PORT), 'the daemon holds the port');
  const error = await t.throwsAsync(networks.attach(pod('second', HELD_PORT)));
  t.is(error?.name, 'FailedPreconditionError');
  t.is(error?.message, `host port ${HELD_PORT}/tcp on 127.0.0.1 is already in use`);
  t.is((await calls(dir)).filter((call) => call.containerId === 'second').length, 0, 'no plugin ran for the refused pod');
  await networks.detach(first.cacheFile);
  t.true(await canListen(HELD_PORT), 'DEL gave the port back');
});

test('a failed ADD gives its host ports back', async (t) => {
  const { dir, networks, pod } = await fakeNetwork(t);
  await writeFile(path.join(dir, 'fail-ADD'), '');
  await t.throwsAsync(networks.attach(pod('failing', FAILED_ADD_PORT)));
  t.true(await canListen(FAILED_ADD_PORT));
});

test('resume after a restart holds the host ports again and runs CHECK with the cached result; a failed CHECK is logged', async (t) => {
  const { dir, networks, pod, logText } = await fakeNetwork(t);
  const up = pod('up', RESUMED_PORT);
  await networks.attach(up);
  await networks.close();
  t.true(await canListen(RESUMED_PORT), 'a stopped daemon holds nothing');

  const restarted = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log: capturedLogger().log });
  t.teardown(() => restarted.close());
  await restarted.resume(up.cacheFile);
  t.false(await canListen(RESUMED_PORT));
  const checks = (await calls(dir)).filter((call) => call.command === 'CHECK');
  t.deepEqual(
    checks.map((call) => call.type),
    ['fake-bridge', 'fake-portmap'],
    'CHECK walks the chain in order',
  );
  t.like(checks[0]!.stdin, { prevResult: { ips: [{ address: '10.1.0.7/24' }, { address: 'fd00::5/64' }] } });

  await writeFile(path.join(dir, 'fail-CHECK'), '');
  await networks.resume(up.cacheFile);
  t.regex(logText(), /CNI CHECK found the pod network changed/);
  await restarted.resume(path.join(dir, 'no-such-pod.json'));
});

test('CHECK is not run for configs older than CNI 0.4.0, STATUS only from 1.1.0', async (t) => {
  const old = await fakeNetwork(t, '0.3.1');
  const up = old.pod('old', OLD_CACHE_PORT);
  await old.networks.attach(up);
  await old.networks.resume(up.cacheFile);
  t.deepEqual(await old.networks.readiness(), { ready: true, message: '' });
  t.deepEqual(
    (await calls(old.dir)).map((call) => call.command),
    ['ADD', 'ADD'],
  );

  const current = await fakeNetwork(t, '1.1.0');
  t.deepEqual(await current.networks.readiness(), { ready: true, message: '' });
  const statuses = (await calls(current.dir)).filter((call) => call.command === 'STATUS');
  t.deepEqual(
    statuses.map((call) => [call.type, call.containerId, call.netns]),
    [
      ['fake-bridge', '', ''],
      ['fake-portmap', '', ''],
    ],
  );
  await writeFile(path.join(current.dir, 'fail-STATUS'), '');
  const notReady = await current.networks.readiness();
  t.false(notReady.ready);
  t.regex(notReady.message, /fake-bridge.*failed STATUS: no IP addresses available/);
});

test('spec versions compare part by part', (t) => {
  t.true(atLeastVersion('1.0.0', [0, 4, 0]));
  t.true(atLeastVersion('0.4.0', [0, 4, 0]));
  t.true(atLeastVersion('1.1', [1, 1, 0]));
  t.false(atLeastVersion('0.3.1', [0, 4, 0]));
  t.false(atLeastVersion('1.0.10', [1, 1, 0]));
  t.false(atLeastVersion('one', [0, 4, 0]));
});

test('a config dropped into the watched dir, then changed in place, is used without a restart', async (t) => {
  const dir = await tempDir(t);
  const { log } = capturedLogger();
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log });
  t.teardown(() => networks.close());
  t.false((await networks.readiness()).ready);
  t.false((await networks.readiness()).ready, 'cached');
  await fakePlugin(dir, 'fake-bridge', '10.1.0.7');
  await fakePlugin(dir, 'fake-portmap', '10.1.0.7');
  await writeFile(path.join(dir, '10-test.conflist'), chain);
  t.true((await networks.readiness()).ready, 'a new file is seen by the next call');
  // An edit in place leaves the dir's mtime alone; the watch event reports it a moment later.
  await writeFile(path.join(dir, '10-test.conflist'), chain.replace('fake-portmap', 'missing-plugin'));
  for (let attempt = 0; (await networks.readiness()).ready; attempt++) {
    if (attempt > 100) t.fail('the edit was never seen');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.regex((await networks.readiness()).message, /missing-plugin/);
});

test('the pod CIDR replaces the ranges of the network crion wrote, one range set and route per family', async (t) => {
  const dir = await tempDir(t);
  const options = { configDir: dir, subnet: '10.88.0.0/16', bridge: 'crion-u2', ipamDataDir: path.join(dir, 'ipam') };
  await initDefaultNetwork(options);
  t.is(await applyPodCidr(dir, '10.244.3.0/24, fd00:10:244:3::/64'), 'updated');
  const [network] = (await loadNetworkConfigs(dir)).networks;
  t.deepEqual(network?.plugins[0]?.ipam, {
    type: 'host-local',
    ranges: [[{ subnet: '10.244.3.0/24' }], [{ subnet: 'fd00:10:244:3::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }],
    dataDir: options.ipamDataDir,
  });
  t.is(await applyPodCidr(dir, '10.244.3.0/24,fd00:10:244:3::/64'), 'unchanged');
  const error = await t.throwsAsync(applyPodCidr(dir, '10.244.3.0'));
  t.is(error?.name, 'InvalidArgumentError');
  t.regex(error?.message ?? '', /pod CIDR: expected an IPv4 or IPv6 CIDR/);
});

test('the pod CIDR leaves a network crion did not write alone', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '10-test.conflist'), chain);
  t.is(await applyPodCidr(dir, '10.244.3.0/24'), 'not-ours');
  t.is(await readFile(path.join(dir, '10-test.conflist'), 'utf8'), chain);
});

test('dns and bandwidth reach only the plugins that declare them; a bad bandwidth annotation fails before any plugin runs', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    path.join(dir, '10-shaped.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'shaped',
      plugins: [{ type: 'fake-bridge' }, { type: 'fake-shaper', capabilities: { bandwidth: true, dns: true } }],
    }),
  );
  await fakePlugin(dir, 'fake-bridge', '10.1.0.9');
  await fakePlugin(dir, 'fake-shaper', '10.1.0.9');
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log: capturedLogger().log });
  t.teardown(() => networks.close());
  const request = {
    sandboxId: 'shaped',
    name: 'shaped',
    namespace: 'default',
    uid: 'shaped-uid',
    netns: '/x',
    portMappings: [],
    dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
    annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1Gi' },
    cacheFile: path.join(dir, 'shaped.json'),
  };
  await networks.attach(request);
  const [bridge, shaper] = await calls(dir);
  t.false('runtimeConfig' in bridge!.stdin);
  t.deepEqual(shaper!.stdin.runtimeConfig, {
    dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
    bandwidth: { ingressRate: 10_000_000, ingressBurst: 4294967295, egressRate: 2 ** 30, egressBurst: 4294967295 },
  });

  const error = await t.throwsAsync(networks.attach({ ...request, sandboxId: 'bad', annotations: { 'kubernetes.io/egress-bandwidth': 'fast' } }));
  t.is(error?.name, 'InvalidArgumentError');
  t.is(error?.message, 'annotation kubernetes.io/egress-bandwidth: "fast" is not a quantity such as 10M or 1Gi');
  t.is((await calls(dir)).length, 2, 'no plugin ran for the refused pod');
});

test('the attachment is cached before ADD runs, so a daemon that dies during ADD still DELs what the chain made', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '10-test.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'slow', type: 'fake-slow' }));
  await writeFile(
    path.join(dir, 'fake-slow'),
    `#!/bin/sh\ncat > /dev/null\necho "$CNI_COMMAND" >> "${dir}/slow-calls"\n[ "$CNI_COMMAND" = ADD ] && sleep 1 && echo '{"cniVersion":"1.0.0","ips":[]}'\nexit 0\n`,
  );
  await chmod(path.join(dir, 'fake-slow'), 0o755);
  const networks = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log: capturedLogger().log });
  t.teardown(() => networks.close());
  const cacheFile = path.join(dir, 'pod.json');
  const attaching = networks.attach({
    sandboxId: 'slow',
    name: 'slow',
    namespace: 'default',
    uid: 'u',
    netns: '/x',
    portMappings: [],
    dns: null,
    annotations: {},
    cacheFile,
  });
  while (!(await readFile(path.join(dir, 'slow-calls'), 'utf8').catch(() => '')).includes('ADD'))
    await new Promise((resolve) => setTimeout(resolve, 10));
  t.like(
    JSON.parse(await readFile(cacheFile, 'utf8')),
    { network: { name: 'slow' }, runtime: { containerId: 'slow' }, result: null },
    'cached while ADD runs',
  );
  // What the start-up sweep does for a pod the daemon died creating: DEL from the cache, without a result.
  const afterRestart = new PodNetworks({ configDir: () => dir, pluginDirs: () => [dir], defaultNetwork: () => '', log: capturedLogger().log });
  t.teardown(() => afterRestart.close());
  await afterRestart.detach(cacheFile);
  t.is(await readFile(path.join(dir, 'slow-calls'), 'utf8'), 'ADD\nDEL\n');
  await attaching;
});

test("a CNI add-on's config installed after crion wrote its default becomes the default network", async (t) => {
  const dir = await tempDir(t);
  await initDefaultNetwork({ configDir: dir, subnet: '10.88.0.0/16', bridge: 'crion0', ipamDataDir: path.join(dir, 'ipam') });
  await writeFile(path.join(dir, '10-flannel.conflist'), chain.replace('testnet', 'cbr0'));
  const { networks } = await loadNetworkConfigs(dir);
  t.is(selectDefaultNetwork(networks, '')?.name, 'cbr0');
});
