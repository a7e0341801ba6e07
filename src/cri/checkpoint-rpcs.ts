import { checkpointPod, restorePod, type PodCheckpointDeps } from '../checkpoint/pod-checkpoint.js';
import type { ContainerManager } from '../container/container-manager.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import { sandboxRequest } from './sandbox-rpcs.js';
import type { ServiceRpcs } from './services.js';

export interface CheckpointRpcDeps {
  readonly containers: Pick<ContainerManager, 'checkpoint'>;
  readonly pods: PodCheckpointDeps;
}

/** CheckpointContainer, CheckpointPod, RestorePod. A container's restore is CreateContainer with an archive as its image (container-rpcs.ts). */
export function checkpointRpcs(deps: CheckpointRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { containers, pods } = deps;
  return {
    async CheckpointContainer(request) {
      await containers.checkpoint(request.containerId, request.location, Number(request.timeout));
      return {};
    },

    async CheckpointPod(request, context) {
      await checkpointPod(
        pods,
        { podSandboxId: request.podSandboxId, outputPath: request.outputPath, containerIds: request.containerIds, options: request.options },
        context.signal,
      );
      return {};
    },

    async RestorePod(request, context) {
      const restored = await restorePod(
        pods,
        {
          checkpointPath: request.checkpointPath,
          sandbox: sandboxRequest(request.config, request.runtimeHandler, 'RestorePod'),
          options: request.options,
          containerConfigs: request.containerConfigs,
        },
        context.signal,
      );
      return { podSandboxId: restored.podSandboxId, restoredContainers: [...restored.containers] };
    },
  };
}
