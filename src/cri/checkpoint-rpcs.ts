import type { ContainerManager } from '../container/container-manager.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import type { ServiceRpcs } from './services.js';

export interface CheckpointRpcDeps {
  readonly containers: Pick<ContainerManager, 'checkpoint'>;
}

/** CheckpointContainer. Restore is CreateContainer with a checkpoint archive as its image, in container-rpcs.ts. */
export function checkpointRpcs(deps: CheckpointRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { containers } = deps;
  return {
    async CheckpointContainer(request) {
      await containers.checkpoint(request.containerId, request.location, Number(request.timeout));
      return {};
    },
  };
}
