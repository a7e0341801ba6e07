import type { ContainerEvent, ContainerEvents } from '../events/container-events.js';
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import { criContainerStatuses, criPodSandboxStatus } from './pod-status.js';
import type { ServiceRpcs } from './services.js';

export interface ContainerEventRpcDeps {
  readonly events: Pick<ContainerEvents, 'subscribe'>;
}

/** GetContainerEvents: the publisher's events from the call on, until the client leaves, falls behind or the daemon stops. */
export function containerEventRpcs(deps: ContainerEventRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  return {
    async GetContainerEvents(_request, sink, context) {
      const subscription = deps.events.subscribe();
      const leave = () => subscription.fail(context.signal.reason as Error);
      context.signal.addEventListener('abort', leave, { once: true });
      if (context.signal.aborted) leave();
      try {
        for (;;) {
          const event = await subscription.next();
          if (event === null) return;
          // A client that has not read what grpc-js holds for it gets nothing more until it has; meanwhile its
          // events wait in its bounded queue, which drops it once full (next() then rejects with RESOURCE_EXHAUSTED).
          if (!sink.send(criContainerEvent(event))) await Promise.race([sink.drained(), subscription.ended]);
        }
      } finally {
        context.signal.removeEventListener('abort', leave);
        subscription.close();
      }
    },
  };
}

function criContainerEvent(event: ContainerEvent): ContainerEventResponse {
  return {
    containerId: event.containerId,
    containerEventType: event.type,
    createdAt: event.createdAt,
    podSandboxStatus: criPodSandboxStatus(event.sandbox),
    containersStatuses: criContainerStatuses(event.containers),
  };
}
