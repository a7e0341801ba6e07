import type { InfoDocument } from '../admin/info-document.js';
import type { CriImageClient, CriRuntimeClient } from '../cri/client.js';
import { formatBytes } from './pull-view.js';

/**
 * `crion status`: is the node able to run pods, and what does it run. The
 * readiness and counts come over CRI, as the kubelet sees them; versions,
 * handlers' binaries and the network's name from the admin socket's `/info`.
 */

export interface StatusReport {
  readonly endpoint: string;
  readonly adminSocket: string;
  readonly conditions: readonly { readonly type: string; readonly status: boolean; readonly reason: string; readonly message: string }[];
  readonly versions: InfoDocument['versions'];
  readonly runtimeHandlers: readonly {
    readonly name: string;
    readonly default: boolean;
    readonly binary: string | null;
    /** The first line of `<binary> --version`, or why there is none. */
    readonly version: string;
    /** Null when the runtime is not installed, so CRI does not offer it. */
    readonly recursiveReadOnlyMounts: boolean | null;
  }[];
  readonly network: InfoDocument['network'];
  readonly cgroupDriver: string;
  readonly configDigest: string;
  readonly pods: { readonly total: number; readonly ready: number };
  readonly containers: { readonly total: number; readonly running: number };
  readonly images: { readonly total: number; readonly mountpoint: string; readonly usedBytes: number; readonly inodesUsed: number };
}

export type StatusRuntime = Pick<CriRuntimeClient, 'endpoint' | 'status' | 'listPods' | 'listContainers'>;
export type StatusImages = Pick<CriImageClient, 'list' | 'fsInfo'>;

export async function gatherStatus(runtime: StatusRuntime, images: StatusImages, info: InfoDocument, adminSocket: string): Promise<StatusReport> {
  const [status, pods, containers, imageList, fsInfo] = await Promise.all([
    runtime.status(),
    runtime.listPods(),
    runtime.listContainers(),
    images.list(),
    images.fsInfo(),
  ]);
  const offered = new Map(status.runtimeHandlers.map((handler) => [handler.name, handler.features?.recursiveReadOnlyMounts ?? false]));
  // One image filesystem: the store's overlay directory.
  const store = fsInfo.imageFilesystems[0];
  return {
    endpoint: runtime.endpoint,
    adminSocket,
    conditions: (status.status?.conditions ?? []).map(({ type, status, reason, message }) => ({ type, status, reason, message })),
    versions: info.versions,
    runtimeHandlers: info.runtimeHandlers.map((handler) => ({
      name: handler.name,
      default: handler.default,
      binary: handler.binary,
      version: handler.version?.split('\n')[0] ?? handler.versionError ?? '',
      recursiveReadOnlyMounts: offered.get(handler.name) ?? null,
    })),
    network: info.network,
    cgroupDriver: info.cgroupDriver,
    configDigest: info.configDigest,
    pods: { total: pods.length, ready: pods.filter((pod) => pod.state === 'SANDBOX_READY').length },
    containers: { total: containers.length, running: containers.filter((container) => container.state === 'CONTAINER_RUNNING').length },
    images: {
      total: imageList.length,
      mountpoint: store?.fsId?.mountpoint ?? '',
      usedBytes: Number(store?.usedBytes?.value ?? 0),
      inodesUsed: Number(store?.inodesUsed?.value ?? 0),
    },
  };
}

/** The report as aligned `label: value` lines. */
export function formatStatus(report: StatusReport): string {
  const { versions, network } = report;
  const rows: [string, string][] = [
    ['crion', `${versions.crion} (CRI API ${versions.criApi}, node ${versions.node}, kernel ${versions.kernel})`],
    ['socket', `${report.endpoint} (admin: ${report.adminSocket})`],
    ...report.conditions.map(({ type, status, reason, message }): [string, string] => [type, status ? 'true' : `false (${reason}: ${message})`]),
    ...report.runtimeHandlers.map((handler): [string, string] => [
      `handler ${handler.name}`,
      [handler.default ? 'default' : null, handler.binary ?? 'not installed', handler.version]
        .filter((part) => part !== null && part !== '')
        .join(', '),
    ]),
    ['network', network.defaultNetwork === null ? 'none' : `${network.defaultNetwork.name} (${network.defaultNetwork.file})`],
    ['cgroup driver', report.cgroupDriver],
    ['pods', `${report.pods.total} (${report.pods.ready} ready)`],
    ['containers', `${report.containers.total} (${report.containers.running} running)`],
    ['images', `${report.images.total}, ${formatBytes(report.images.usedBytes)} in ${report.images.mountpoint}`],
    ['config', report.configDigest],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 1;
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('');
}
