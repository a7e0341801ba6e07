import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { ImageVolume } from './image-volumes.js';

/** What the daemon keeps of a container, and the few rules that read only the record. */

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: { readonly name: string; readonly attempt: number };
  /** The image as the request named it, and the image's ID. */
  readonly image: string;
  readonly imageId: string;
  readonly imageRef: string;
  /**
   * Chain IDs of the layers its rootfs is mounted from, held for as long as
   * the container exists, whether or not an image still names them. Absent
   * in records written before crion kept it: those fall back to their image.
   */
  readonly layers?: readonly string[];
  /** Its image volumes, which it holds the layers of too. Absent in records written before crion had them. */
  readonly imageVolumes?: readonly ImageVolume[];
  readonly config: ContainerConfig__Output;
  readonly state: ContainerState;
  readonly createdAt: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
  readonly pid: number;
  readonly monitorPid: number;
  /** Absolute; empty when the pod has no log directory. */
  readonly logPath: string;
  readonly runtimeHandler: string;
  /** Without the SIG prefix, as `runc kill` takes it: the request's, else the image's, else TERM. */
  readonly stopSignal: string;
  /** The pod's pause process: managed with the pod, never listed. */
  readonly infra: boolean;
  readonly user: { readonly uid: number; readonly gid: number; readonly supplementalGroups: readonly number[] };
  /** Made for a CreateContainer whose caller gave up: the kubelet's retry with the same name gets this container. */
  readonly unclaimed?: boolean;
  /**
   * When a StartContainer began, saved before the runtime's start: a daemon
   * that dies after the start but before recording it finds the container
   * running at its next start, and this is its start time.
   */
  readonly startingAt?: string;
  /**
   * Made from a checkpoint and not started yet: CRIU's images, which
   * StartContainer restores the container from (there is no monitor until
   * then). Dropped once the container runs.
   */
  readonly restoreImages?: string;
}

export interface ContainerFilter {
  readonly id: string | null;
  readonly sandboxId: string | null;
  readonly state: ContainerState | null;
  readonly labels: Readonly<Record<string, string>>;
}

/** The pod's identity as a container name needs it. */
export interface PodIdentity {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

/**
 * The name a container is reserved under, unique per pod and attempt as
 * the kubelet's retries expect (containerd and CRI-O build the same one).
 */
export function containerName(container: { readonly name: string; readonly attempt: number }, pod: PodIdentity | undefined): string {
  return `${container.name}_${pod?.name}_${pod?.namespace}_${pod?.uid}_${container.attempt}`;
}

export function matchesFilter(container: ContainerRecord, filter: ContainerFilter | null): boolean {
  return (
    filter === null ||
    ((filter.id === null || container.id.startsWith(filter.id)) &&
      (filter.sandboxId === null || container.sandboxId.startsWith(filter.sandboxId)) &&
      (filter.state === null || container.state === filter.state) &&
      Object.entries(filter.labels).every(([key, value]) => container.config.labels[key] === value))
  );
}

/** How an error message names a state: `created`, `running`, `exited`. */
export function stateWord(state: ContainerState): string {
  return state.replace('CONTAINER_', '').toLowerCase();
}

/** Without the SIG prefix: the request's signal, else the image's, else TERM. */
export function stopSignalOf(config: ContainerConfig__Output, imageStopSignal: string | null): string {
  if (config.stopSignal !== 'SIGNAL_RUNTIME_DEFAULT') return config.stopSignal.replace(/^SIGNAL_SIG/, '');
  if (imageStopSignal) return imageStopSignal.replace(/^SIG/, '');
  return 'TERM';
}
