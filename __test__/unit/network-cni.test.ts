import test from 'ava';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log/logger.js';
import { loadNetworkConfigs, selectDefaultNetwork } from '../../src/network/cni-config.js';
import { DEFAULT_NETWORK_FILE, initDefaultNetwork } from '../../src/network/default-network.js';
import { PodNetworks } from '../../src/network/pod-networks.js';

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
  return text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Call);
}

const chain = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'testnet',
  plugins: [{ type: 'fake-bridge', bridge: 'br9' }, { type: 'fake-portmap', capabilities: { portMappings: true } }],
});

test('configs load in lexical order; invalid files are reported with their reason and skipped', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, '20-second.conflist'), chain.replace('testnet', 'second'));
  await writeFile(path.join(dir, '10-broken.conflist'), '{ not json');
  await writeFile(path.join(dir, '15-empty.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'empty', plugins: [] }));
  await writeFile(path.join(dir, '30-single.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge' }));
  await writeFile(path.join(dir, 'README.md'), 'not a network');
  const { networks, invalid } = await loadNetworkConfigs(dir);
  t.deepEqual(networks.map((network) => network.name), ['second', 'single']);
  t.deepEqual(networks[1]!.plugins, [{ cniVersion: '0.4.0', name: 'single', type: 'bridge' }]);
  t.deepEqual(invalid.map((file) => path.basename(file.file)), ['10-broken.conflist', '15-empty.conflist']);
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
  t.deepEqual(await networks.readiness(), { ready: true, message: '' });

  const cacheFile = path.join(dir, 'network.json');
  const ips = await networks.attach({
    sandboxId: 'pod1',
    name: 'web',
    namespace: 'default',
    uid: 'uid-1',
    netns: '/run/crion/pods/pod1/ns/net',
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }],
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
    runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }] },
  });

  // DEL works from the cache even after the config dir lost the network.
  await rm(path.join(confDir, '10-test.conflist'));
  await networks.detach(cacheFile);
  const dels = (await calls(binDir)).slice(2);
  t.deepEqual(dels.map((call) => `${call.type} ${call.command}`), ['fake-portmap DEL', 'fake-bridge DEL']);
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
  const request = { sandboxId: 'pod2', name: 'web', namespace: 'default', uid: 'uid-2', netns: '/x', portMappings: [], cacheFile };
  const error = await t.throwsAsync(networks.attach(request));
  t.is(error?.name, 'UnavailableError');
  t.regex(error?.message ?? '', /fake-bridge.*no IP addresses available in range set: 10\.1\.0\.0\/30/);
  t.deepEqual((await calls(dir)).map((call) => `${call.type} ${call.command}`), ['fake-bridge ADD', 'fake-portmap DEL', 'fake-bridge DEL']);
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
  const options = { configDir: path.join(dir, 'net.d'), subnet: '10.123.7.0/24', ipamDataDir: path.join(dir, 'ipam') };
  const written = await initDefaultNetwork(options);
  t.is(written, path.join(dir, 'net.d', DEFAULT_NETWORK_FILE));
  const [network] = (await loadNetworkConfigs(options.configDir)).networks;
  t.deepEqual(network?.plugins.map((plugin) => plugin.type), ['bridge', 'portmap']);
  t.like(network?.plugins[0], { bridge: 'crion0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.7.0/24' }]], dataDir: options.ipamDataDir } });
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
  const request = { sandboxId: 'pod3', name: 'web', namespace: 'default', uid: 'uid-3', netns: '/x', portMappings: [], cacheFile };
  await t.throwsAsync(networks.attach(request), { message: /"fake-killed" of network "killed" failed ADD: killed by SIGKILL/ });
});
