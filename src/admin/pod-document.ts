import type { ContainerRecord } from '../container/container-record.js';
import type { SandboxRecord, SandboxState } from '../sandbox/sandbox-manager.js';

/**
 * `GET /pods/{id}`: a pod with what PodSandboxStatus leaves out: the network
 * namespace its containers join, the IDs of those containers, then the
 * whole record the daemon keeps.
 */

/** What the document is built from; the daemon passes the sandbox manager's and the container manager's answers. */
export interface PodSource {
  /** The pods the CRI lists: one still being made is not there yet. */
  list(): readonly SandboxRecord[];
  containersOf(podId: string): readonly ContainerRecord[];
}

export interface PodDocument {
  readonly kind: 'pod';
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly state: SandboxState;
  /** The pinned network namespace; null for a pod on the host's network. */
  readonly netns: string | null;
  /** The primary IP first; empty for a pod on the host's network. */
  readonly ips: readonly string[];
  readonly containerIds: readonly string[];
  /** The pause container of a pod that shares its PID namespace; null otherwise. */
  readonly infraContainerId: string | null;
  /** The pod init that holds a shared PID namespace in place of a pause container; null otherwise. */
  readonly podInitPid: number | null;
  readonly record: SandboxRecord;
}

export function podDocument(source: PodSource, record: SandboxRecord): PodDocument {
  return {
    kind: 'pod',
    id: record.id,
    name: record.metadata.name,
    namespace: record.metadata.namespace,
    uid: record.metadata.uid,
    state: record.state,
    netns: record.namespaces.net,
    ips: record.ips,
    containerIds: source.containersOf(record.id).map((container) => container.id),
    infraContainerId: record.infraContainerId,
    podInitPid: record.podInit?.pid ?? null,
    record,
  };
}
