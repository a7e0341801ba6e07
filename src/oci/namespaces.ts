import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { NamespaceMode__Output } from '../generated/runtime/v1/NamespaceMode.js';
import type { NamespaceOption__Output } from '../generated/runtime/v1/NamespaceOption.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { CgroupLayout } from '../native/index.js';
import type { SandboxContext } from './spec-inputs.js';
import type { OciNamespace } from './spec-types.js';

/**
 * linux.namespaces. Network, IPC and UTS belong to the pod: crion pins
 * them as files and every container joins those, so the container-level
 * network and IPC modes (the kubelet copies the pod's) are not consulted.
 * UTS follows the network, as in Kubernetes: a pod on the host network has
 * the node's hostname. PID is per container: its own, the pod's (the infra
 * process's), the node's, or another container's (TARGET, for ephemeral
 * debug containers). Mount is always new; cgroup is new on cgroup v2, where
 * it hides the node's hierarchy, and kept on v1 and for privileged
 * containers, as containerd does, because v1 tools expect the host view.
 */

export interface PodNamespaceModes {
  readonly network: NamespaceMode__Output;
  readonly pid: NamespaceMode__Output;
  readonly ipc: NamespaceMode__Output;
}

/** CRI's zero value is POD, so a config without namespace options shares everything in the pod. */
export function podNamespaceModes(config: PodSandboxConfig__Output): PodNamespaceModes {
  const options = config.linux?.securityContext?.namespaceOptions ?? null;
  return { network: options?.network ?? 'POD', pid: options?.pid ?? 'POD', ipc: options?.ipc ?? 'POD' };
}

/** The pod's infra process: it creates the pod's PID namespace and joins the rest. */
export function sandboxNamespaces(sandbox: SandboxContext, cgroupLayout: CgroupLayout): OciNamespace[] {
  const modes = podNamespaceModes(sandbox.config);
  const options = sandbox.config.linux?.securityContext?.namespaceOptions ?? null;
  refuseUserNamespaces(options, 'linux.security_context.namespace_options');
  const namespaces: OciNamespace[] = [];
  if (modes.pid !== 'NODE') namespaces.push({ type: 'pid' });
  namespaces.push(...podNamespaces(sandbox, modes));
  namespaces.push({ type: 'mount' });
  if (cgroupLayout === 'v2' && sandbox.config.linux?.securityContext?.privileged !== true) {
    namespaces.push({ type: 'cgroup' });
  }
  return namespaces;
}

export interface ContainerNamespaceInput {
  readonly sandbox: SandboxContext;
  readonly options: NamespaceOption__Output | null;
  /** /proc/<pid>/ns/pid of the target container, when the PID mode is TARGET. */
  readonly targetPidNamespace: string | null;
  readonly privileged: boolean;
  readonly cgroupLayout: CgroupLayout;
}

export function containerNamespaces(input: ContainerNamespaceInput): OciNamespace[] {
  const field = 'linux.security_context.namespace_options';
  refuseUserNamespaces(input.options, field);
  const modes = podNamespaceModes(input.sandbox.config);
  const namespaces: OciNamespace[] = [];
  // Without namespace options (crictl's minimal configs) a container shares the pod's PID arrangement.
  const pidMode = input.options?.pid ?? modes.pid;
  switch (pidMode) {
    case 'CONTAINER':
      namespaces.push({ type: 'pid' });
      break;
    case 'POD': {
      const pid = input.sandbox.namespaces.pid;
      if (modes.pid === 'NODE' || pid === null) {
        throw new InvalidArgumentError(`${field}.pid is POD but the pod has no shared PID namespace`);
      }
      namespaces.push({ type: 'pid', path: pid });
      break;
    }
    case 'NODE':
      // The node's PID namespace is a pod-level privilege (hostPID), which admission checks on the pod.
      if (modes.pid !== 'NODE') {
        throw new InvalidArgumentError(`${field}.pid is NODE but the pod does not use the node's PID namespace`);
      }
      break;
    case 'TARGET':
      if ((input.options?.targetId ?? '') === '' || input.targetPidNamespace === null) {
        throw new InvalidArgumentError(`${field}.pid is TARGET without a running target container (target_id)`);
      }
      namespaces.push({ type: 'pid', path: input.targetPidNamespace });
      break;
  }
  namespaces.push(...podNamespaces(input.sandbox, modes));
  namespaces.push({ type: 'mount' });
  if (input.cgroupLayout === 'v2' && !input.privileged) namespaces.push({ type: 'cgroup' });
  return namespaces;
}

function podNamespaces(sandbox: SandboxContext, modes: PodNamespaceModes): OciNamespace[] {
  const namespaces: OciNamespace[] = [];
  const paths = sandbox.namespaces;
  if (modes.network !== 'NODE') {
    namespaces.push({ type: 'network', path: pinned(paths.network, 'network') });
    namespaces.push({ type: 'uts', path: pinned(paths.uts, 'UTS') });
  }
  if (modes.ipc !== 'NODE') namespaces.push({ type: 'ipc', path: pinned(paths.ipc, 'IPC') });
  return namespaces;
}

function pinned(path: string | null, what: string): string {
  if (path === null) throw new FailedPreconditionError(`the pod's ${what} namespace has not been set up`);
  return path;
}

/** Host user namespace (NODE) is the only mode crion runs today; POD needs ID-mapped mounts it does not make yet. */
function refuseUserNamespaces(options: NamespaceOption__Output | null, field: string): void {
  const userns = options?.usernsOptions ?? null;
  if (userns === null || userns.mode === 'NODE') return;
  if (userns.mode === 'POD') {
    throw new InvalidArgumentError(`${field}.userns_options: user namespaces are not supported yet`);
  }
  throw new InvalidArgumentError(`${field}.userns_options.mode must be NODE or POD, not ${userns.mode}`);
}
