import { readFile, rm } from 'node:fs/promises';
import { FailedPreconditionError } from '../errors.js';
import { replaceFile } from '../fs/atomic-write.js';
import type { Logger } from '../log/logger.js';
import { selectDefaultNetwork, type NetworkConfigList } from './cni-config.js';
import { addNetwork, checkNetwork, deleteNetwork, missingPlugins, networkStatus, type CniResult, type CniRuntime } from './cni-exec.js';
import { NetworkConfigWatch } from './config-watch.js';
import { HostPortReservations } from './host-ports.js';
import { podBandwidth } from './pod-bandwidth.js';

/**
 * Pods on the node's default CNI network. The config dir is watched, so a
 * network that a CNI add-on drops in after the daemon started is picked up
 * without a restart. Each attachment is cached (the network config and the
 * ADD result) next to the pod's runtime files, so DEL finds what ADD made
 * even after a daemon restart or a changed config dir. A pod's host ports
 * are held open from before its ADD until its DEL succeeded.
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
  /** The pod's DNS settings, for plugins that declare the `dns` capability. */
  readonly dns: PodDns | null;
  /** The pod's annotations: the kubelet asks for traffic shaping through them. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Where the attachment is remembered for DEL. */
  readonly cacheFile: string;
}

export interface PodDns {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
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
  /** Null until ADD returned: a daemon that died during ADD still DELs, as the spec allows without a result. */
  readonly result: CniResult | null;
}

const POD_INTERFACE = 'eth0';

export class PodNetworks {
  /** Invalid files already logged, so a broken file is reported once, not on every kubelet Status call. */
  private readonly reported = new Set<string>();
  private readonly configs: NetworkConfigWatch;
  private readonly hostPorts = new HostPortReservations();

  constructor(private readonly settings: PodNetworkSettings) {
    this.configs = new NetworkConfigWatch(settings.configDir, settings.log);
  }

  /**
   * ADD on the default network; returns the pod's IPs, first one first. A
   * failed chain is torn down again. Without a usable network the pod fails,
   * as with containerd and CRI-O: a pod without one would run unreachable.
   */
  async attach(request: PodNetworkRequest): Promise<string[]> {
    const network = await this.defaultNetwork();
    if (network === null) throw new FailedPreconditionError(`the pod network is not ready: ${this.notReadyMessage()}`);
    const bandwidth = podBandwidth(request.annotations);
    await this.hostPorts.reserve(request.sandboxId, request.portMappings);
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
      // Each goes only to plugins that declare it (cni-exec), so offering all of them is safe.
      capabilities: {
        portMappings: request.portMappings,
        ...(request.dns === null ? {} : { dns: { servers: request.dns.servers, searches: request.dns.searches, options: request.dns.options } }),
        ...(bandwidth === null ? {} : { bandwidth }),
      },
    };
    const pluginDirs = this.settings.pluginDirs();
    // Written before ADD, so whatever the chain did is DELeted by the caller's undo or, after a crash, at start.
    try {
      await writeAttachment(request.cacheFile, { network, runtime, result: null });
    } catch (error) {
      await this.hostPorts.release(request.sandboxId);
      throw error;
    }
    let result: CniResult;
    try {
      result = await addNetwork(network, runtime, pluginDirs);
    } catch (error) {
      // The spec has the runtime DEL a failed ADD, so plugins that did their part release it (IPs, veths).
      // A DEL that fails too keeps the cache, for the caller's undo to try again.
      await this.detach(request.cacheFile).catch((cleanupError: unknown) =>
        this.settings.log.warn({ err: cleanupError, podSandboxId: request.sandboxId }, 'CNI DEL after a failed ADD failed'),
      );
      throw error;
    }
    await writeAttachment(request.cacheFile, { network, runtime, result });
    const ips = resultIps(result);
    this.settings.log.info(
      { pod: request.name, namespace: request.namespace, podSandboxId: request.sandboxId, network: network.name, ips },
      'pod network attached',
    );
    return ips;
  }

  /**
   * DEL with the cached ADD result; the cache goes only once DEL succeeded,
   * so a failed DEL is retried by the next stop or remove. Without a cache
   * there is nothing to undo, which makes this idempotent.
   */
  async detach(cacheFile: string): Promise<void> {
    const cached = await readAttachment(cacheFile);
    if (cached === null) return;
    await deleteNetwork(cached.network, cached.runtime, this.settings.pluginDirs(), cached.result);
    await this.hostPorts.release(cached.runtime.containerId);
    await rm(cacheFile, { force: true });
    const { K8S_POD_NAME: pod, K8S_POD_NAMESPACE: namespace } = cached.runtime.args;
    this.settings.log.info({ pod, namespace, podSandboxId: cached.runtime.containerId, network: cached.network.name }, 'pod network detached');
  }

  /**
   * After a daemon restart, for a pod that is still up: holds its host
   * ports again and runs CHECK, so a network that broke while the daemon
   * was down is reported. Neither failure stops the pod: its containers run
   * and the kubelet decides what to do with it.
   */
  async resume(cacheFile: string): Promise<void> {
    const cached = await readAttachment(cacheFile);
    if (cached === null) return;
    const log = this.settings.log.child({ podSandboxId: cached.runtime.containerId, network: cached.network.name });
    const portMappings = (cached.runtime.capabilities.portMappings ?? []) as PortMapping[];
    await this.hostPorts
      .reserve(cached.runtime.containerId, portMappings)
      .catch((error: unknown) => log.warn({ err: error }, 'cannot hold the pod host ports again after the restart'));
    // A ready pod's ADD finished before its record was saved, so its result is there.
    if (cached.result === null) return;
    try {
      await checkNetwork(cached.network, cached.runtime, this.settings.pluginDirs(), cached.result);
    } catch (error) {
      log.warn({ err: error }, 'CNI CHECK found the pod network changed while the daemon was down');
    }
  }

  /** NetworkReady: a default network exists, every plugin of its chain is installed and (CNI 1.1+) reports ready. */
  async readiness(): Promise<NetworkReadiness> {
    const network = await this.defaultNetwork();
    if (network === null) return { ready: false, message: this.notReadyMessage() };
    const pluginDirs = this.settings.pluginDirs();
    const missing = await missingPlugins(network, pluginDirs);
    if (missing.length > 0) {
      return {
        ready: false,
        message: `CNI network "${network.name}" (${network.file}) needs plugins ${missing.join(', ')}, which are not in ${pluginDirs.join(', ')}`,
      };
    }
    try {
      await networkStatus(network, pluginDirs);
    } catch (error) {
      return { ready: false, message: error instanceof Error ? error.message : String(error) };
    }
    return { ready: true, message: '' };
  }

  /** The network pods join now, for an operator to see; null while the config dir holds none usable. */
  async describeDefaultNetwork(): Promise<{ readonly name: string; readonly file: string } | null> {
    const network = await this.defaultNetwork();
    return network === null ? null : { name: network.name, file: network.file };
  }

  /** Stops watching the config dir and lets go of every host port; pods keep their DNAT rules until DEL. */
  async close(): Promise<void> {
    this.configs.close();
    await this.hostPorts.releaseAll();
  }

  private async defaultNetwork(): Promise<NetworkConfigList | null> {
    const { networks, invalid } = await this.configs.configs();
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

/** In the pod's runtime dir, which a reboot empties along with the networks it describes: no fsync. */
function writeAttachment(cacheFile: string, attachment: CachedAttachment): Promise<void> {
  return replaceFile(cacheFile, JSON.stringify(attachment), 0o600);
}

async function readAttachment(cacheFile: string): Promise<CachedAttachment | null> {
  try {
    return JSON.parse(await readFile(cacheFile, 'utf8')) as CachedAttachment;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** The addresses of the ADD result without their prefix length, the interface's own first. */
export function resultIps(result: CniResult): string[] {
  const ips = Array.isArray(result.ips) ? (result.ips as Array<{ address?: unknown }>) : [];
  return ips.flatMap((ip) => (typeof ip.address === 'string' ? [ip.address.split('/')[0]!] : []));
}
