import type { ContainerManager } from '../container/container-manager.js';
import { InvalidArgumentError } from '../errors.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { SandboxManager, SandboxRecord, SandboxRequest } from '../sandbox/sandbox-manager.js';
import type { PodSandbox } from '../generated/runtime/v1/PodSandbox.js';
import type { PodSandboxFilter__Output } from '../generated/runtime/v1/PodSandboxFilter.js';
import { podListFilter } from './list-filters.js';
import { sendInChunks } from './list-stream.js';
import { criContainerStatuses, criPodSandboxStatus } from './pod-status.js';
import type { ServiceRpcs } from './services.js';
import { unixNanos } from '../unix-nanos.js';

export interface SandboxRpcDeps {
  readonly sandboxes: SandboxManager;
  readonly containers: Pick<ContainerManager, 'listOf'>;
}

/** RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, UpdatePodSandboxResources, ListPodSandbox, StreamPodSandboxes. */
export function sandboxRpcs(deps: SandboxRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { sandboxes, containers } = deps;
  const list = (filter: PodSandboxFilter__Output | null): PodSandbox[] => sandboxes.list(podListFilter(filter)).map(criPodSandbox);
  return {
    async RunPodSandbox(request, context) {
      const sandbox = await sandboxes.run(sandboxRequest(request.config, request.runtimeHandler), context.signal);
      return { podSandboxId: sandbox.id };
    },

    /** Idempotent: the kubelet stops a pod as often as it likes, also one that is gone. */
    async StopPodSandbox(request) {
      const sandbox = sandboxes.find(request.podSandboxId);
      if (!sandbox) return {};
      await sandboxes.stop(sandbox.id);
      return {};
    },

    /** Idempotent: removing a missing sandbox succeeds. */
    async RemovePodSandbox(request) {
      const sandbox = sandboxes.find(request.podSandboxId);
      if (!sandbox) return {};
      await sandboxes.remove(sandbox.id);
      return {};
    },

    async PodSandboxStatus(request) {
      const sandbox = sandboxes.require(request.podSandboxId);
      const info: Record<string, string> = request.verbose ? { info: JSON.stringify(verboseInfo(sandbox)) } : {};
      return {
        status: criPodSandboxStatus(sandbox),
        info,
        // With the kubelet's EventedPLEG gate, a set timestamp tells it to take the pod's container statuses from here.
        containersStatuses: criContainerStatuses(containers.listOf(sandbox.id)),
        timestamp: unixNanos(),
      };
    },

    /** Best effort for the kubelet, which goes on with a resize whatever the answer; errors still say what was wrong. */
    async UpdatePodSandboxResources(request) {
      await sandboxes.updateResources(request.podSandboxId, { overhead: request.overhead, resources: request.resources });
      return {};
    },

    async ListPodSandbox(request) {
      return { items: list(request.filter) };
    },

    async StreamPodSandboxes(request, sink) {
      await sendInChunks(list(request.filter), sink, (podSandboxes) => ({ podSandboxes }));
    },
  };
}

function criPodSandbox(sandbox: SandboxRecord): PodSandbox {
  return {
    id: sandbox.id,
    metadata: sandbox.metadata,
    state: sandbox.state,
    createdAt: sandbox.createdAt,
    labels: sandbox.labels,
    annotations: sandbox.annotations,
    runtimeHandler: sandbox.runtimeHandler,
  };
}

function verboseInfo(sandbox: SandboxRecord) {
  return {
    ips: sandbox.ips,
    namespaces: sandbox.namespaces,
    files: sandbox.files,
    shm: sandbox.shm,
    cgroupParent: sandbox.cgroupParent,
    config: sandbox.config,
  };
}

/** CRI's PodSandboxConfig in the sandbox manager's terms; a missing config is the client's error. RestorePod shares it. */
export function sandboxRequest(config: PodSandboxConfig__Output | null, runtimeHandler: string, rpc = 'RunPodSandbox'): SandboxRequest {
  if (config === null || config.metadata === null) {
    throw new InvalidArgumentError(`${rpc} needs a config with metadata`);
  }
  const linux = config.linux;
  const namespaces = linux?.securityContext?.namespaceOptions ?? null;
  return {
    metadata: config.metadata,
    hostname: config.hostname,
    logDirectory: config.logDirectory,
    dns: config.dnsConfig,
    labels: config.labels,
    annotations: config.annotations,
    cgroupParent: linux?.cgroupParent ?? '',
    sysctls: linux?.sysctls ?? {},
    network: namespaces?.network ?? 'POD',
    pid: namespaces?.pid ?? 'POD',
    ipc: namespaces?.ipc ?? 'POD',
    runtimeHandler,
    // The kubelet sends every container port, with host_port 0 where the pod asks for none; a negative one is the client's error.
    portMappings: config.portMappings
      .filter((mapping) => mapping.hostPort !== 0)
      .map((mapping) => ({
        hostPort: mapping.hostPort,
        containerPort: mapping.containerPort,
        protocol: mapping.protocol.toLowerCase(),
        hostIP: mapping.hostIp,
      })),
    config,
  };
}
