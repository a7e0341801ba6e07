import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../fs/atomic-write.js';
import type { Logger } from '../log/logger.js';
import { loadNetworkConfigs, selectDefaultNetwork, type NetworkConfigList } from './cni-config.js';
import { addNetwork, deleteNetwork, missingPlugins, type CniResult, type CniRuntime } from './cni-exec.js';

/**
 * Pods on the node's default CNI network. The config dir is re-read on each
 * attach and each readiness check, so a network that a CNI add-on drops in
 * after the daemon started is picked up without a restart. Each attachment
 * is cached (the network config and the ADD result) next to the pod's
 * runtime files, so DEL finds what ADD made even after a daemon restart or
 * a changed config dir.
 */

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  /** Lowercase, as the portmap plugin expects. */
  readonly protocol: string;
  readonly hostIP: string;
}

export interface PodNetworkRequest {
  readonly sandboxId: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly netns: string;
  readonly portMappings: readonly PortMapping[];
  /** Where the attachment is remembered for DEL. */
  readonly cacheFile: string;
}

export interface NetworkReadiness {
  readonly ready: boolean;
  readonly message: string;
}

export interface PodNetworkSettings {
  readonly configDir: () => string;
  readonly pluginDirs: () => readonly string[];
  readonly defaultNetwork: () => string;
  readonly log: Logger;
}

interface CachedAttachment {
  readonly network: NetworkConfigList;
  readonly runtime: CniRuntime;
  readonly result: CniResult;
}

const POD_INTERFACE = 'eth0';

export class PodNetworks {
  /** Invalid files already logged: the dir is re-read on every kubelet Status call, every few seconds. */
  private readonly reported = new Set<string>();

  constructor(private readonly settings: PodNetworkSettings) {}

  /** ADD on the default network; returns the pod's IPs, first one first. A failed chain is torn down again. */
  async attach(request: PodNetworkRequest): Promise<string[]> {
    const network = await this.defaultNetwork();
    if (network === null) {
      // NetworkReady is false then, so the kubelet schedules only host-network pods here; a pod that a
      // client runs anyway keeps its loopback-only namespace rather than failing, as it did before CNI.
      this.settings.log.warn({ podSandboxId: request.sandboxId, reason: this.notReadyMessage() }, 'pod runs without a network');
      return [];
    }
    const runtime: CniRuntime = {
      containerId: request.sandboxId,
      netns: request.netns,
      ifName: POD_INTERFACE,
      args: {
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: request.namespace,
        K8S_POD_NAME: request.name,
        K8S_POD_INFRA_CONTAINER_ID: request.sandboxId,
        K8S_POD_UID: request.uid,
      },
      capabilities: { portMappings: request.portMappings },
    };
    const pluginDirs = this.settings.pluginDirs();
    let result: CniResult;
    try {
      result = await addNetwork(network, runtime, pluginDirs);
    } catch (error) {
      // The spec has the runtime DEL a failed ADD, so plugins that did their part release it (IPs, veths).
      await deleteNetwork(network, runtime, pluginDirs, null).catch((cleanupError: unknown) =>
        this.settings.log.warn({ err: cleanupError, podSandboxId: request.sandboxId }, 'CNI DEL after a failed ADD failed'),
      );
      throw error;
    }
    const cached: CachedAttachment = { network, runtime, result };
    await writeFileAtomic(request.cacheFile, JSON.stringify(cached), 0o600);
    const ips = resultIps(result);
    this.settings.log.info({ podSandboxId: request.sandboxId, network: network.name, ips }, 'pod network attached');
    return ips;
  }

  /**
   * DEL with the cached ADD result; the cache goes only once DEL succeeded,
   * so a failed DEL is retried by the next stop or remove. Without a cache
   * there is nothing to undo, which makes this idempotent.
   */
  async detach(cacheFile: string): Promise<void> {
    let cached: CachedAttachment;
    try {
      cached = JSON.parse(await readFile(cacheFile, 'utf8')) as CachedAttachment;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await deleteNetwork(cached.network, cached.runtime, this.settings.pluginDirs(), cached.result);
    await rm(cacheFile, { force: true });
    this.settings.log.info({ podSandboxId: cached.runtime.containerId, network: cached.network.name }, 'pod network detached');
  }

  /** NetworkReady: a default network exists and every plugin of its chain is installed. */
  async readiness(): Promise<NetworkReadiness> {
    const network = await this.defaultNetwork();
    if (network === null) return { ready: false, message: this.notReadyMessage() };
    const missing = await missingPlugins(network, this.settings.pluginDirs());
    if (missing.length > 0) {
      return {
        ready: false,
        message: `CNI network "${network.name}" (${network.file}) needs plugins ${missing.join(', ')}, which are not in ${this.settings.pluginDirs().join(', ')}`,
      };
    }
    return { ready: true, message: '' };
  }

  private async defaultNetwork(): Promise<NetworkConfigList | null> {
    const { networks, invalid } = await loadNetworkConfigs(this.settings.configDir());
    for (const { file, reason } of invalid) {
      const key = `${file}\0${reason}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      this.settings.log.warn({ file, reason }, 'skipping an invalid CNI network config');
    }
    return selectDefaultNetwork(networks, this.settings.defaultNetwork());
  }

  private notReadyMessage(): string {
    const name = this.settings.defaultNetwork();
    const wanted = name === '' ? 'no valid CNI network config' : `no valid CNI network config named "${name}"`;
    return `${wanted} in ${this.settings.configDir()}`;
  }
}

/** The addresses of the ADD result without their prefix length, the interface's own first. */
export function resultIps(result: CniResult): string[] {
  const ips = Array.isArray(result.ips) ? (result.ips as Array<{ address?: unknown }>) : [];
  return ips.flatMap((ip) => (typeof ip.address === 'string' ? [ip.address.split('/')[0]!] : []));
}
