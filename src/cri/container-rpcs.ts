import type { ContainerManager, ContainerRecord } from '../container/container-manager.js';
import { InvalidArgumentError } from '../errors.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import type { Container } from '../generated/runtime/v1/Container.js';
import type { ContainerFilter__Output } from '../generated/runtime/v1/ContainerFilter.js';
import { containerListFilter } from './list-filters.js';
import { sendInChunks } from './list-stream.js';
import { criContainerStatus } from './pod-status.js';
import type { ServiceRpcs } from './services.js';

export interface ContainerRpcDeps {
  readonly containers: ContainerManager;
}

/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ContainerStatus, ListContainers, StreamContainers,
 * UpdateContainerResources, ExecSync, ReopenContainerLog.
 */
export function containerRpcs(deps: ContainerRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { containers } = deps;
  const list = (filter: ContainerFilter__Output | null): Container[] => containers.list(containerListFilter(filter)).map(criContainer);
  return {
    async CreateContainer(request, context) {
      const container = await containers.create(request.podSandboxId, request.config, context.signal);
      return { containerId: container.id };
    },

    async StartContainer(request) {
      await containers.start(request.containerId);
      return {};
    },

    /** Idempotent: stopping a stopped or missing container succeeds. */
    async StopContainer(request) {
      await containers.stop(request.containerId, Number(request.timeout));
      return {};
    },

    /** Idempotent: removing a missing container succeeds. */
    async RemoveContainer(request) {
      await containers.remove(request.containerId);
      return {};
    },

    async ContainerStatus(request) {
      const container = containers.require(request.containerId);
      const info: Record<string, string> = {};
      if (request.verbose) {
        info.info = JSON.stringify({ pid: container.pid, monitorPid: container.monitorPid, runtimeSpec: await containers.specOf(container.id) });
      }
      return { status: criContainerStatus(container), info };
    },

    async ListContainers(request) {
      return { containers: list(request.filter) };
    },

    async StreamContainers(request, sink) {
      await sendInChunks(list(request.filter), sink, (chunk) => ({ containers: chunk }));
    },

    async ExecSync(request) {
      if (request.cmd.length === 0) throw new InvalidArgumentError('ExecSync needs a command');
      return containers.execSync(request.containerId, request.cmd, Number(request.timeout));
    },

    async UpdateContainerResources(request) {
      await containers.updateResources(request.containerId, request.linux);
      return {};
    },

    async ReopenContainerLog(request) {
      await containers.reopenLog(request.containerId);
      return {};
    },
  };
}

function criContainer(container: ContainerRecord): Container {
  return {
    id: container.id,
    podSandboxId: container.sandboxId,
    metadata: container.metadata,
    image: { image: container.image, annotations: {} },
    imageRef: container.imageRef,
    imageId: container.imageId,
    state: container.state,
    createdAt: container.createdAt,
    labels: container.config.labels,
    annotations: container.config.annotations,
  };
}
