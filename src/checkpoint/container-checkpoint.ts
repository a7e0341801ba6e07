import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DeadlineExceededError, InvalidArgumentError } from '../errors.js';
import type { ContainerRecord } from '../container/container-record.js';
import type { ContainerRuntime } from '../container/oci-runtime.js';
import type { OciSpec } from '../oci/index.js';
import { IMAGES_DIR, packArchive, stagingDirFor, writeCheckpointFiles } from './checkpoint-archive.js';

/**
 * CheckpointContainer: CRIU's images of a running container through
 * `runtime checkpoint --leave-running` (the kubelet's checkpoint API
 * expects the container to carry on), packed with its spec and writable
 * layer into one archive at `location`.
 */

export interface ContainerCheckpointRequest {
  readonly container: ContainerRecord;
  readonly runtime: Pick<ContainerRuntime, 'checkpoint'>;
  readonly criu: string;
  readonly spec: OciSpec;
  /** The overlay upper directory: what the container wrote. */
  readonly upperDir: string;
  readonly location: string;
  /** Epoch milliseconds; null: no deadline of the request's own. */
  readonly deadline: number | null;
}

/** `location` must be absolute and its directory must exist: the archive is written there and nowhere else. */
export async function checkLocation(location: string, field: string): Promise<void> {
  if (location === '' || !path.isAbsolute(location)) throw new InvalidArgumentError(`${field} must be an absolute path, not "${location}"`);
  const parent = await stat(path.dirname(location)).catch(() => null);
  if (!parent?.isDirectory()) throw new InvalidArgumentError(`${field} ${location}: ${path.dirname(location)} is not an existing directory`);
  if ((await stat(location).catch(() => null))?.isDirectory()) throw new InvalidArgumentError(`${field} ${location} is a directory`);
}

/**
 * CRIU's dump is never cut short: killing it mid-dump could leave the
 * container frozen. A deadline that passes during it fails the call once
 * the dump is over, leaving no archive.
 */
export async function checkpointContainer(request: ContainerCheckpointRequest): Promise<void> {
  const { container, location } = request;
  const staging = await stagingDirFor(location);
  try {
    await request.runtime.checkpoint(container.id, { criu: request.criu, imageDir: path.join(staging, IMAGES_DIR), workDir: staging });
    checkDeadline(request.deadline, container.id);
    await writeCheckpointFiles(
      staging,
      {
        id: container.id,
        name: container.metadata.name,
        rootfsImage: container.imageId,
        rootfsImageRef: container.imageRef,
        rootfsImageName: container.image,
        runtime: container.runtimeHandler,
        createdTime: new Date(Number(BigInt(container.createdAt) / 1_000_000n)).toISOString(),
        checkpointedTime: new Date().toISOString(),
      },
      request.spec,
      request.upperDir,
    );
    checkDeadline(request.deadline, container.id);
    await packArchive(staging, location);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function checkDeadline(deadline: number | null, containerId: string): void {
  if (deadline !== null && Date.now() > deadline)
    throw new DeadlineExceededError(`the checkpoint of container ${containerId} took longer than its timeout`);
}
