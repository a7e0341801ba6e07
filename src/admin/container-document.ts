import path from 'node:path';
import type { ContainerRecord, ContainerState } from '../container/container-record.js';
import type { OciSpec } from '../oci/index.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';

/**
 * `GET /containers/{id}`: a container as an operator debugging a node needs
 * it, where ContainerStatus stops: the processes that hold it (monitor,
 * container) and the paths on the host (bundle, rootfs, log), then the
 * whole record the daemon keeps.
 */

/** What the document is built from; the daemon passes the container manager's and the sandbox manager's answers. */
export interface ContainerSource {
  /** The containers the CRI lists (a pod's infra container is the pod's, not one of them). */
  list(): readonly ContainerRecord[];
  bundleOf(id: string): string;
  specOf(id: string): Promise<OciSpec | null>;
  pod(id: string): SandboxRecord | undefined;
}

export interface ContainerDocument {
  readonly kind: 'container';
  readonly id: string;
  readonly name: string;
  readonly state: ContainerState;
  /** Only once it has exited. */
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly pod: { readonly id: string; readonly name: string | null; readonly namespace: string | null };
  /** 0 before the start. */
  readonly pid: number;
  /** 0 for a container made from a checkpoint and not started: its monitor starts with it. */
  readonly monitorPid: number;
  readonly bundle: string;
  /** As the bundle's spec names it; null once the bundle is gone. */
  readonly rootfs: string | null;
  /** Empty when the pod has no log directory. */
  readonly logPath: string;
  readonly record: ContainerRecord;
}

export async function containerDocument(source: ContainerSource, record: ContainerRecord): Promise<ContainerDocument> {
  const bundle = source.bundleOf(record.id);
  const spec = await source.specOf(record.id);
  const pod = source.pod(record.sandboxId);
  const exited = record.state === 'CONTAINER_EXITED';
  return {
    kind: 'container',
    id: record.id,
    name: record.metadata.name,
    state: record.state,
    exitCode: exited ? record.exitCode : null,
    reason: exited ? record.reason : null,
    pod: { id: record.sandboxId, name: pod?.metadata.name ?? null, namespace: pod?.metadata.namespace ?? null },
    pid: record.pid,
    monitorPid: record.monitorPid,
    bundle,
    // The OCI spec allows a root path relative to the bundle.
    rootfs: spec === null ? null : path.resolve(bundle, spec.root.path),
    logPath: record.logPath,
    record,
  };
}
