import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * CNI network configurations as libcni finds them: `.conflist` files hold a
 * plugin chain, `.conf` and `.json` files a single plugin, which is treated
 * as a chain of one. A file that does not parse or lacks what the spec
 * requires is reported and skipped, so one bad drop-in cannot take pod
 * networking (or the daemon) down.
 */

export type PluginConfig = Readonly<Record<string, unknown>> & { readonly type: string };

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  readonly plugins: readonly PluginConfig[];
  readonly file: string;
}

export interface InvalidNetworkConfig {
  readonly file: string;
  readonly reason: string;
}

export interface LoadedNetworkConfigs {
  /** In lexical order of their file names. */
  readonly networks: readonly NetworkConfigList[];
  readonly invalid: readonly InvalidNetworkConfig[];
}

export const NETWORK_CONFIG_EXTENSIONS = ['.conflist', '.conf', '.json'] as const;

export function isNetworkConfigFile(name: string): boolean {
  return NETWORK_CONFIG_EXTENSIONS.some((extension) => name.endsWith(extension)) && !name.startsWith('.');
}

/** A missing directory holds no networks: a node may get its CNI add-on after crion starts. */
export async function loadNetworkConfigs(dir: string): Promise<LoadedNetworkConfigs> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isNetworkConfigFile).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { networks: [], invalid: [] };
    throw error;
  }
  const networks: NetworkConfigList[] = [];
  const invalid: InvalidNetworkConfig[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      networks.push(parseNetworkConfig(file, await readFile(file, 'utf8')));
    } catch (error) {
      invalid.push({ file, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { networks, invalid };
}

/** By `defaultNetwork` name when one is configured, else the first file; null when none fits. */
export function selectDefaultNetwork(networks: readonly NetworkConfigList[], defaultNetwork: string): NetworkConfigList | null {
  if (defaultNetwork !== '') return networks.find((network) => network.name === defaultNetwork) ?? null;
  return networks[0] ?? null;
}

export function parseNetworkConfig(file: string, text: string): NetworkConfigList {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!isObject(value)) throw new Error('not a JSON object');
  const name = requireString(value, 'name');
  const cniVersion = requireString(value, 'cniVersion');
  if (!file.endsWith('.conflist')) {
    return { name, cniVersion, plugins: [requirePlugin(value, 'the configuration')], file };
  }
  const plugins = value.plugins;
  if (!Array.isArray(plugins) || plugins.length === 0) throw new Error('"plugins" must be a non-empty array');
  return { name, cniVersion, plugins: plugins.map((plugin, index) => requirePlugin(plugin, `plugins[${index}]`)), file };
}

function requirePlugin(value: unknown, where: string): PluginConfig {
  if (!isObject(value)) throw new Error(`${where} is not an object`);
  if (typeof value.type !== 'string' || value.type === '' || value.type.includes('/')) {
    throw new Error(`${where} needs "type", the name of a plugin binary`);
  }
  return value as PluginConfig;
}

function requireString(value: Record<string, unknown>, key: string): string {
  const field = value[key];
  if (typeof field !== 'string' || field === '') throw new Error(`"${key}" must be a non-empty string`);
  return field;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
