import type { ContainerRecord } from '../container/container-record.js';
import type { Logger } from '../log/logger.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import type { ContainerEventType, LifecycleEvents } from './container-events.js';

/**
 * The operator's record of what ran on the node: one info line per pod and
 * container transition, naming the pod as the kubelet does (name and
 * namespace), not only by the IDs a person would have to look up. It hears
 * the same transitions as the event stream, so no lifecycle path can skip it.
 */

export interface LifecycleLogDeps {
  readonly sandbox: (sandboxId: string) => SandboxRecord | undefined;
  readonly container: (containerId: string) => ContainerRecord | undefined;
  readonly log: Logger;
}

const POD_MESSAGES: Readonly<Partial<Record<ContainerEventType, string>>> = {
  // A pod is created and started in one RunPodSandbox; its CREATED event would repeat the STARTED line.
  CONTAINER_STARTED_EVENT: 'pod started',
  CONTAINER_STOPPED_EVENT: 'pod stopped',
  CONTAINER_DELETED_EVENT: 'pod removed',
};

const CONTAINER_MESSAGES: Readonly<Record<ContainerEventType, string>> = {
  CONTAINER_CREATED_EVENT: 'container created',
  CONTAINER_STARTED_EVENT: 'container started',
  CONTAINER_STOPPED_EVENT: 'container exited',
  CONTAINER_DELETED_EVENT: 'container removed',
};

export class LifecycleLog implements LifecycleEvents {
  constructor(private readonly deps: LifecycleLogDeps) {}

  publish(
    type: ContainerEventType,
    containerId: string,
    sandboxId: string,
    removedSandbox?: SandboxRecord,
    removedContainer?: ContainerRecord,
  ): void {
    const sandbox = removedSandbox ?? this.deps.sandbox(sandboxId);
    const pod = sandbox === undefined ? { podSandboxId: sandboxId } : podFields(sandbox);
    if (containerId === sandboxId) {
      const message = POD_MESSAGES[type];
      if (message !== undefined)
        this.deps.log.info({ ...pod, ...(type === 'CONTAINER_STARTED_EVENT' && sandbox ? startedPodFields(sandbox) : {}) }, message);
      return;
    }
    const container = removedContainer ?? this.deps.container(containerId);
    this.deps.log.info({ ...pod, ...(container === undefined ? { containerId } : containerFields(type, container)) }, CONTAINER_MESSAGES[type]);
  }
}

function podFields(sandbox: SandboxRecord): Record<string, unknown> {
  const { name, namespace, uid, attempt } = sandbox.metadata;
  return { pod: name, namespace, podUid: uid, podAttempt: attempt, podSandboxId: sandbox.id };
}

function startedPodFields(sandbox: SandboxRecord): Record<string, unknown> {
  return {
    runtimeHandler: sandbox.runtimeHandler,
    hostNetwork: sandbox.network === 'NODE',
    ips: sandbox.ips.length > 0 ? sandbox.ips.join(',') : undefined,
    infraContainerId: sandbox.infraContainerId ?? undefined,
    podInitPid: sandbox.podInit?.pid,
  };
}

function containerFields(type: ContainerEventType, container: ContainerRecord): Record<string, unknown> {
  const fields: Record<string, unknown> = { container: container.metadata.name, attempt: container.metadata.attempt, containerId: container.id };
  if (type === 'CONTAINER_CREATED_EVENT') fields.image = container.image;
  if (type === 'CONTAINER_STARTED_EVENT') fields.containerPid = container.pid;
  if (type === 'CONTAINER_STOPPED_EVENT')
    Object.assign(fields, { exitCode: container.exitCode, reason: container.reason, message: container.message || undefined });
  return fields;
}
