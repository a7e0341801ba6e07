import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { CrionConfig } from '../config/index.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { isNetworkConfigFile } from './cni-config.js';

/**
 * The bridge network `crion network init` and `init_default_network` write,
 * so a lone node runs pods without a CNI add-on. Loopback is not in the
 * chain: the pod's network namespace is created with lo already up.
 */

export const DEFAULT_NETWORK_FILE = '10-crion-bridge.conflist';
export const DEFAULT_NETWORK_NAME = 'crion';
export const DEFAULT_BRIDGE = 'crion0';

export interface DefaultNetworkOptions {
  readonly configDir: string;
  readonly subnet: string;
  /** host-local's lease directory: under the daemon's state, so daemons sharing a host never share leases. */
  readonly ipamDataDir: string;
}

/** The options `init_default_network` and `crion network init` use, from the daemon's configuration. */
export function defaultNetworkFor(config: CrionConfig): DefaultNetworkOptions {
  return {
    configDir: config.network.cniConfigDir,
    subnet: config.network.defaultSubnet,
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
        bridge: DEFAULT_BRIDGE,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: options.subnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: options.ipamDataDir,
        },
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
