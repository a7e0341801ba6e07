import type { ContainerRecord } from '../container/container-manager.js';
import type { ContainerStatus } from '../generated/runtime/v1/ContainerStatus.js';
import type { Mount } from '../generated/runtime/v1/Mount.js';
import type { PodSandboxStatus } from '../generated/runtime/v1/PodSandboxStatus.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';

/**
 * The CRI status messages of a pod and of a container, built from their records. ContainerStatus, PodSandboxStatus
 * and every GetContainerEvents event use these, so the kubelet sees the same status whichever way it asks.
 */

export function criPodSandboxStatus(sandbox: SandboxRecord): PodSandboxStatus {
  return {
    id: sandbox.id,
    metadata: sandbox.metadata,
    state: sandbox.state,
    createdAt: sandbox.createdAt,
    network: { ip: sandbox.ips[0] ?? '', additionalIps: sandbox.ips.slice(1).map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: { network: sandbox.network, pid: sandbox.pid, ipc: sandbox.ipc, targetId: '' },
      },
    },
    labels: sandbox.labels,
    annotations: sandbox.annotations,
    runtimeHandler: sandbox.runtimeHandler,
  };
}

export function criContainerStatus(container: ContainerRecord): ContainerStatus {
  return {
    id: container.id,
    metadata: container.metadata,
    state: container.state,
    createdAt: container.createdAt,
    startedAt: container.startedAt,
    finishedAt: container.finishedAt,
    exitCode: container.exitCode,
    image: { image: container.image, annotations: {} },
    imageRef: container.imageRef,
    imageId: container.imageId,
    reason: container.reason,
    message: container.message,
    labels: container.config.labels,
    annotations: container.config.annotations,
    mounts: mountsOf(container),
    // What the last create or UpdateContainerResources set, as the kubelet compares it for a resize.
    resources: container.config.linux?.resources ? { linux: container.config.linux.resources } : null,
    logPath: container.logPath,
    user: {
      linux: {
        uid: String(container.user.uid),
        gid: String(container.user.gid),
        supplementalGroups: container.user.supplementalGroups.map(String),
      },
    },
  };
}

/**
 * A pod's containers' statuses, newest first: the kubelet takes the first status of a name as the container's
 * current one, and with EventedPLEG it reads this list from PodSandboxStatus as it is, unsorted.
 */
export function criContainerStatuses(containers: readonly ContainerRecord[]): ContainerStatus[] {
  return [...containers].sort((a, b) => compareNanos(b.createdAt, a.createdAt)).map(criContainerStatus);
}

function compareNanos(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference === 0n ? 0 : difference > 0n ? 1 : -1;
}

/** The requested mounts; an image volume's also names the image it mounted (KEP-5365's image_ref), as the kubelet reports it. */
function mountsOf(container: ContainerRecord): Mount[] {
  const imageIds = new Map((container.imageVolumes ?? []).map((volume) => [volume.index, volume.imageId]));
  return container.config.mounts.map((mount, index) => {
    const imageRef = imageIds.get(index);
    return imageRef === undefined || mount.image === null ? mount : { ...mount, image: { ...mount.image, imageRef } };
  });
}
