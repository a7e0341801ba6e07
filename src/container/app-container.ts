import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { ImageRecord } from '../image/image-store.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { StepTimes } from '../log/step-times.js';
import { containerSpec, type ContainerLimits, type HostLookups } from '../oci/index.js';
import type { HandlerFeatures } from '../runtime/handler-features.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import { launchContainer, type CheckpointSource, type LaunchDeps } from './container-launch.js';
import { stopSignalOf, type ContainerRecord } from './container-record.js';
import type { ImageVolumeRequest } from './image-volumes.js';

/**
 * A CreateContainer's container: launched with the OCI spec its CRI config,
 * its pod and its image make, and recorded as CREATED under the name and
 * attempt the kubelet gave it. infra-container.ts is its twin for a pod's
 * pause container.
 */

export interface AppContainerRequest {
  readonly sandbox: SandboxRecord;
  readonly config: ContainerConfig__Output & { readonly metadata: { readonly name: string; readonly attempt: number } };
  readonly imageName: string;
  readonly image: ImageRecord;
  readonly imageVolumes: readonly ImageVolumeRequest[];
  readonly logPath: string;
  /** `/proc/<pid>/ns/pid` of the target container for PID mode TARGET, else null. */
  readonly targetPidNamespace: string | null;
  readonly limits: ContainerLimits;
  /** The unpacked checkpoint archive the container is made from; null for a new container. */
  readonly checkpoint: CheckpointSource | null;
  /** What the pod's runtime handler can do. */
  readonly handler: HandlerFeatures;
  /** CreateContainer's, which the launch's steps are timed into. */
  readonly steps: StepTimes;
}

/** The record is the caller's to save; `release` gives back the image's layers once the container is removed. */
export async function launchAppContainer(
  deps: LaunchDeps & { readonly lookups: HostLookups },
  request: AppContainerRequest,
  cleanup: CleanupStack,
): Promise<{ record: ContainerRecord; release: () => Promise<void> }> {
  const { sandbox, config, imageName, logPath } = request;
  const { created, imageStopSignal, release } = await launchContainer(deps, sandbox, imageName, request.image, {
    securityContext: config.linux?.securityContext ?? null,
    logPath,
    stdin: config.stdin,
    cleanup,
    imageVolumes: request.imageVolumes,
    checkpoint: request.checkpoint,
    steps: request.steps,
    spec: ({ id, rootfs, identity, imageConfig, sandboxContext, imageVolumeSources }) =>
      containerSpec({
        containerId: id,
        config,
        sandbox: sandboxContext,
        image: imageConfig,
        imageName,
        rootfs,
        imageVolumeSources,
        identity,
        targetPidNamespace: request.targetPidNamespace,
        limits: request.limits,
        host: deps.host,
        handler: request.handler,
        lookups: deps.lookups,
      }),
  });
  const record: ContainerRecord = {
    ...created,
    metadata: { name: config.metadata.name, attempt: config.metadata.attempt },
    config,
    logPath,
    stopSignal: stopSignalOf(config, imageStopSignal),
    infra: false,
  };
  return { record, release };
}
