import { mkdir, readdir, readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import type { CrionConfig } from '../config/index.js';
import { cidr } from '../config/value-types.js';
import { InvalidArgumentError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { isNetworkConfigFile } from './cni-config.js';

/**
 * The bridge network `crion network init` and `init_default_network` write,
 * so a lone node runs pods without a CNI add-on. Loopback is not in the
 * chain: the pod's network namespace is created with lo already up.
 */

/** Sorts after the 00- to 9x- names CNI add-ons use, so an add-on installed later becomes the default. */
export const DEFAULT_NETWORK_FILE = '99-crion-bridge.conflist';
export const DEFAULT_NETWORK_NAME = 'crion';

export interface DefaultNetworkOptions {
  readonly configDir: string;
  readonly subnet: string;
  readonly bridge: string;
  /** host-local's lease directory: under the daemon's state, so daemons sharing a host never share leases. */
  readonly ipamDataDir: string;
}

/** The options `init_default_network` and `crion network init` use, from the daemon's configuration. */
export function defaultNetworkFor(config: CrionConfig): DefaultNetworkOptions {
  return {
    configDir: config.network.cniConfigDir,
    subnet: config.network.defaultSubnet,
    bridge: config.network.defaultBridge,
    ipamDataDir: path.join(config.state, 'cni', 'networks'),
  };
}

export function defaultNetworkConfig(options: DefaultNetworkOptions): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: DEFAULT_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: options.bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: hostLocalIpam([options.subnet], options.ipamDataDir),
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

/**
 * Writes the bridge network unless the directory already holds a network
 * config of any kind: an operator's or add-on's network always wins.
 * Returns the file written, or null when one existed.
 */
export async function initDefaultNetwork(options: DefaultNetworkOptions): Promise<string | null> {
  await mkdir(options.configDir, { recursive: true, mode: 0o755 });
  if ((await readdir(options.configDir)).some(isNetworkConfigFile)) return null;
  const file = path.join(options.configDir, DEFAULT_NETWORK_FILE);
  await writeFileAtomic(file, `${JSON.stringify(defaultNetworkConfig(options), null, 2)}\n`);
  return file;
}

/** One range set per subnet (one per family for dual-stack) and a default route for each family. */
function hostLocalIpam(subnets: readonly string[], dataDir: string): Record<string, unknown> {
  const families = new Set(subnets.map((subnet) => (isIPv4(subnet.split('/')[0]!) ? '0.0.0.0/0' : '::/0')));
  return {
    type: 'host-local',
    ranges: subnets.map((subnet) => [{ subnet }]),
    routes: [...families].map((dst) => ({ dst })),
    dataDir,
  };
}

export type PodCidrOutcome = 'updated' | 'unchanged' | 'not-ours';

/**
 * UpdateRuntimeConfig's pod CIDR (comma-separated, one per family), which
 * the kubelet learns from the node object, applied to the network crion
 * wrote: its host-local ranges become the node's. A network crion did not
 * write is the operator's or a CNI add-on's and is left alone. Pods keep
 * the addresses they have; new pods get addresses in the new ranges.
 */
export async function applyPodCidr(configDir: string, podCidr: string): Promise<PodCidrOutcome> {
  const subnets = podCidr.split(',').map((part) => part.trim());
  for (const subnet of subnets) {
    const checked = cidr.fromToml(subnet);
    if (!checked.ok) throw new InvalidArgumentError(`pod CIDR: ${checked.reason}`);
  }
  const file = path.join(configDir, DEFAULT_NETWORK_FILE);
  let network: { name?: unknown; plugins?: Array<{ type?: unknown; ipam?: { type?: unknown; dataDir?: unknown } }> };
  try {
    network = JSON.parse(await readFile(file, 'utf8')) as typeof network;
  } catch {
    return 'not-ours';
  }
  const bridge = network.plugins?.[0];
  if (network.name !== DEFAULT_NETWORK_NAME || bridge?.type !== 'bridge' || bridge.ipam?.type !== 'host-local') return 'not-ours';
  const ipam = hostLocalIpam(subnets, String(bridge.ipam.dataDir));
  if (JSON.stringify(bridge.ipam) === JSON.stringify(ipam)) return 'unchanged';
  bridge.ipam = ipam;
  await writeFileAtomic(file, `${JSON.stringify(network, null, 2)}\n`);
  return 'updated';
}
