import { spawn } from 'node:child_process';
import { UnavailableError } from '../errors.js';
import { findExecutable } from '../runtime/executable.js';
import type { NetworkConfigList, PluginConfig } from './cni-config.js';

/**
 * Runs a network's plugin chain the way the CNI spec describes: each plugin
 * is an executable found in the plugin dirs, told what to do through
 * CNI_* variables and handed its configuration on stdin. ADD walks the chain
 * in order, each plugin getting the previous one's result as prevResult;
 * DEL walks it in reverse with the ADD result, so every plugin can find
 * what it made. CHECK (spec 0.4.0 on) walks it in order with the ADD
 * result; STATUS (1.1.0 on) asks each plugin whether it can take ADDs.
 */

export interface CniRuntime {
  readonly containerId: string;
  /** The pod's network namespace file. */
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAME. */
  readonly args: Readonly<Record<string, string>>;
  /** Values for the capabilities a plugin declares, e.g. portMappings. */
  readonly capabilities: Readonly<Record<string, unknown>>;
}

export type CniResult = Readonly<Record<string, unknown>>;

/** A plugin that hangs (a stuck IPAM daemon, a lock) must not hold RunPodSandbox, and the pod's name, forever. */
const PLUGIN_TIMEOUT_MS = 60_000;

export async function addNetwork(network: NetworkConfigList, runtime: CniRuntime, pluginDirs: readonly string[]): Promise<CniResult> {
  let prevResult: CniResult | null = null;
  for (const plugin of network.plugins) {
    prevResult = await execPlugin('ADD', network, plugin, prevResult, runtime, pluginDirs);
  }
  // A chain always has one plugin (the config loader guarantees it), so a result exists.
  return prevResult ?? {};
}

export async function deleteNetwork(
  network: NetworkConfigList,
  runtime: CniRuntime,
  pluginDirs: readonly string[],
  addResult: CniResult | null,
): Promise<void> {
  for (const plugin of [...network.plugins].reverse()) {
    await execPlugin('DEL', network, plugin, addResult, runtime, pluginDirs);
  }
}

/**
 * Whether the pod's network is still what ADD made (its interface, address,
 * routes, rules). Resolves without running anything for configs older than
 * the spec version that introduced CHECK.
 */
export async function checkNetwork(
  network: NetworkConfigList,
  runtime: CniRuntime,
  pluginDirs: readonly string[],
  addResult: CniResult,
): Promise<void> {
  if (!atLeastVersion(network.cniVersion, CHECK_SINCE)) return;
  for (const plugin of network.plugins) {
    await execPlugin('CHECK', network, plugin, addResult, runtime, pluginDirs);
  }
}

/** Fails with the first plugin's reason when it cannot take ADDs now; configs older than 1.1.0 have no STATUS. */
export async function networkStatus(network: NetworkConfigList, pluginDirs: readonly string[]): Promise<void> {
  if (!atLeastVersion(network.cniVersion, STATUS_SINCE)) return;
  for (const plugin of network.plugins) {
    await execPlugin('STATUS', network, plugin, null, null, pluginDirs);
  }
}

const CHECK_SINCE = [0, 4, 0] as const;
const STATUS_SINCE = [1, 1, 0] as const;

/** Semantic versions as the spec writes them ("1.0.0"); a missing part counts as 0, garbage as too old. */
export function atLeastVersion(version: string, wanted: readonly [number, number, number]): boolean {
  const parts = version.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : Number.NaN));
  if (parts.length > 3 || parts.some(Number.isNaN)) return false;
  for (let index = 0; index < 3; index++) {
    const part = parts[index] ?? 0;
    if (part !== wanted[index]) return part > wanted[index]!;
  }
  return true;
}

/** The plugin types of a network that no plugin dir holds; empty when the network is usable. */
export async function missingPlugins(network: NetworkConfigList, pluginDirs: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const plugin of network.plugins) {
    if ((await findExecutable(plugin.type, pluginDirs.join(':'))) === null) missing.push(plugin.type);
  }
  return missing;
}

async function execPlugin(
  command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS',
  network: NetworkConfigList,
  plugin: PluginConfig,
  prevResult: CniResult | null,
  runtime: CniRuntime | null,
  pluginDirs: readonly string[],
): Promise<CniResult> {
  const binary = await findExecutable(plugin.type, pluginDirs.join(':'));
  if (binary === null) {
    throw new UnavailableError(`CNI plugin "${plugin.type}" of network "${network.name}" is not in ${pluginDirs.join(', ')}`);
  }
  const stdin = JSON.stringify({
    ...plugin,
    name: network.name,
    cniVersion: network.cniVersion,
    ...(prevResult === null ? {} : { prevResult }),
    ...(runtime === null ? {} : runtimeConfig(plugin, runtime.capabilities)),
  });
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_PATH: pluginDirs.join(':'),
    // STATUS concerns the plugin, not a container: the spec gives it no container variables.
    ...(runtime === null
      ? {}
      : {
          CNI_CONTAINERID: runtime.containerId,
          CNI_NETNS: runtime.netns,
          CNI_IFNAME: runtime.ifName,
          CNI_ARGS: Object.entries(runtime.args)
            .map(([key, value]) => `${key}=${value}`)
            .join(';'),
        }),
  };
  const { code, signal, stdout, stderr } = await runWithStdin(binary, env, stdin);
  const what = `CNI plugin "${plugin.type}" of network "${network.name}" failed ${command}`;
  if (signal !== null) throw new UnavailableError(`${what}: killed by ${signal} (plugins get ${PLUGIN_TIMEOUT_MS / 1000} s)`);
  if (code !== 0) throw new UnavailableError(`${what}: ${pluginErrorMessage(stdout, stderr, code)}`);
  if (command !== 'ADD' || stdout.trim() === '') return {};
  try {
    const result: unknown = JSON.parse(stdout);
    if (typeof result === 'object' && result !== null && !Array.isArray(result)) return result as CniResult;
  } catch {
    // Reported below with what the plugin printed.
  }
  throw new UnavailableError(`${what}: its result is not a JSON object: ${stdout.slice(0, 200)}`);
}

/** Only the capabilities the plugin declares, as the spec requires; none means no runtimeConfig at all. */
function runtimeConfig(plugin: PluginConfig, capabilities: Readonly<Record<string, unknown>>): { runtimeConfig?: Record<string, unknown> } {
  const declared = plugin.capabilities;
  if (typeof declared !== 'object' || declared === null) return {};
  const entries = Object.entries(capabilities).filter(([key]) => (declared as Record<string, unknown>)[key] === true);
  return entries.length === 0 ? {} : { runtimeConfig: Object.fromEntries(entries) };
}

/** The spec's error object ({code, msg, details}) when the plugin printed one, else its stderr. */
function pluginErrorMessage(stdout: string, stderr: string, exitCode: number | null): string {
  try {
    const error = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof error.msg === 'string') {
      const details = typeof error.details === 'string' && error.details !== '' ? `: ${error.details}` : '';
      return `${error.msg}${details} (code ${String(error.code)})`;
    }
  } catch {
    // Not the spec's error object: fall back to what the plugin wrote to stderr.
  }
  const text = (stderr.trim() || stdout.trim()).slice(0, 500);
  return text === '' ? `exit code ${String(exitCode)}` : text;
}

function runWithStdin(
  binary: string,
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: PLUGIN_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A plugin that exits without reading stdin closes the pipe; its exit status tells the story.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}
