import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { ImageRecord } from '../image/image-store.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { Logger } from '../log/logger.js';
import { stepTimes } from '../log/step-times.js';
import { sandboxSpec, type HostLookups } from '../oci/index.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { launchContainer, type LaunchDeps } from './container-launch.js';
import type { ContainerRecord } from './container-record.js';

/**
 * A pod's infra container: the pause process that holds a PID namespace the
 * pod's containers share. It has no CRI config of its own; its record
 * exists so that restore, exits and removal treat it like any container,
 * and it is hidden from ListContainers as containerd and CRI-O hide theirs.
 */

export interface InfraDeps extends LaunchDeps {
  readonly records: RecordStore<ContainerRecord>;
  readonly lookups: HostLookups;
  readonly log: Logger;
}

/** Launched and started in one step, each undone on failure; the caller holds `release` until the container is removed. */
export async function runInfraContainer(
  deps: InfraDeps,
  sandbox: SandboxRecord,
  imageName: string,
  image: ImageRecord,
): Promise<{ record: ContainerRecord; release: () => Promise<void> }> {
  const steps = stepTimes(deps.log, 'infra container steps');
  const result = await CleanupStack.run(deps.log, async (cleanup) => {
    const { created, release } = await launchContainer(deps, sandbox, imageName, image, {
      securityContext: (sandbox.config as PodSandboxConfig__Output).linux?.securityContext ?? null,
      logPath: '',
      stdin: false,
      cleanup,
      imageVolumes: [],
      checkpoint: null,
      steps,
      spec: ({ rootfs, identity, imageConfig, sandboxContext }) =>
        sandboxSpec({ sandbox: sandboxContext, image: imageConfig, imageName, rootfs, identity, host: deps.host, lookups: deps.lookups }),
    });
    const infra: ContainerRecord = {
      ...created,
      metadata: { name: 'infra', attempt: 0 },
      config: { metadata: { name: 'infra', attempt: 0 }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output,
      logPath: '',
      stopSignal: 'KILL',
      infra: true,
    };
    await steps.time('record', () => deps.records.save(infra));
    cleanup.push('remove the infra record', () => deps.records.remove(infra.id));
    await steps.time('runtime start', () => deps.runtimes(sandbox.runtimeHandler).start(infra.id));
    const running: ContainerRecord = { ...infra, state: 'CONTAINER_RUNNING', startedAt: unixNanos() };
    await steps.time('record', () => deps.records.save(running));
    return { record: running, release };
  });
  steps.done({ podSandboxId: sandbox.id, containerId: result.record.id });
  return result;
}
