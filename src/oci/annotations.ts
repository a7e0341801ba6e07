import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';

/**
 * Spec annotations. The `io.kubernetes.cri.*` keys are the ones containerd
 * writes, which tools on the node (NRI plugins, monitoring agents, crictl
 * inspect users) read to tell pods and containers apart. The request's own
 * annotations are copied too, except those in namespaces the OCI runtime
 * acts on: runc reads `org.systemd.property.*` into the container's scope
 * unit, crun reads `run.oci.*` (one of them keeps the caller's groups), and
 * `org.criu.*` steers checkpoints. A pod author must not steer the runtime,
 * and must not forge crion's own keys.
 */

const KEY = {
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  sandboxLogDirectory: 'io.kubernetes.cri.sandbox-log-directory',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
  runtimeHandler: 'io.kubernetes.cri.runtime-handler',
} as const;

const RESERVED_PREFIXES: readonly string[] = ['io.kubernetes.cri.', 'org.systemd.property.', 'run.oci.', 'org.criu.'];

export interface AnnotationInput {
  readonly sandboxId: string;
  readonly sandbox: PodSandboxConfig__Output;
  readonly runtimeHandler: string;
  readonly imageName: string;
  /** null for the pod's infra process. */
  readonly containerName: string | null;
  readonly requested: Readonly<Record<string, string>>;
}

export function specAnnotations(input: AnnotationInput): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const key of Object.keys(input.requested).sort()) {
    if (!RESERVED_PREFIXES.some((prefix) => key.startsWith(prefix))) annotations[key] = input.requested[key] ?? '';
  }
  const metadata = input.sandbox.metadata;
  annotations[KEY.containerType] = input.containerName === null ? 'sandbox' : 'container';
  annotations[KEY.sandboxId] = input.sandboxId;
  annotations[KEY.sandboxName] = metadata?.name ?? '';
  annotations[KEY.sandboxNamespace] = metadata?.namespace ?? '';
  annotations[KEY.sandboxUid] = metadata?.uid ?? '';
  if (input.containerName === null) annotations[KEY.sandboxLogDirectory] = input.sandbox.logDirectory;
  else annotations[KEY.containerName] = input.containerName;
  annotations[KEY.imageName] = input.imageName;
  annotations[KEY.runtimeHandler] = input.runtimeHandler;
  return annotations;
}

/** The handler a spec was made for, as specAnnotations recorded it; null when it names none. */
export function runtimeHandlerOf(annotations: Readonly<Record<string, string>> | undefined): string | null {
  return annotations?.[KEY.runtimeHandler] ?? null;
}
