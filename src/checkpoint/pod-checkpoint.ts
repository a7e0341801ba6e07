import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { ContainerManager, ContainerRecord } from '../container/container-manager.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { Logger } from '../log/logger.js';
import type { SandboxManager, SandboxRequest } from '../sandbox/sandbox-manager.js';
import type { Criu } from './criu.js';

/**
 * CheckpointPod and RestorePod. A pod checkpoint is a directory of one
 * container archive (checkpoint-archive.ts) per selected container and
 * `pod.json` naming them; RestorePod runs a new pod from the caller's config
 * and makes each container from its archive through CreateContainer's
 * restore path, so StartContainer restores them one by one.
 */

export interface PodCheckpointDeps {
  readonly sandboxes: Pick<SandboxManager, 'require' | 'run' | 'remove'>;
  readonly containers: Pick<ContainerManager, 'require' | 'checkpoint' | 'pause' | 'resume' | 'create'>;
  readonly criu: Pick<Criu, 'require'>;
  readonly log: Logger;
}

const POD_FILE = 'pod.json';

/** pod.json: which archive holds which container, and the image each was made from, to check RestorePod's configs against. */
interface PodCheckpointIndex {
  readonly podSandboxId: string;
  readonly containers: ReadonlyArray<{
    readonly name: string;
    readonly archive: string;
    /** The image as the container's request named it, its ID and its digest reference: a config may name it any of these ways. */
    readonly image: string;
    readonly imageId: string;
    readonly imageRef: string;
  }>;
}

export interface CheckpointPodRequest {
  readonly podSandboxId: string;
  readonly outputPath: string;
  readonly containerIds: readonly string[];
  readonly options: Readonly<Record<string, string>>;
}

export interface RestorePodRequest {
  readonly checkpointPath: string;
  readonly sandbox: SandboxRequest;
  readonly options: Readonly<Record<string, string>>;
  readonly containerConfigs: readonly ContainerConfig__Output[];
}

export interface RestoredPod {
  readonly podSandboxId: string;
  readonly containers: ReadonlyArray<{ readonly name: string; readonly containerId: string }>;
}

/**
 * Every selected container is paused before the first is captured and
 * stays paused until the last is, so the archives are one instant of the
 * pod; all are resumed before this returns, whatever happened. On failure
 * the output directory is emptied again.
 */
export async function checkpointPod(deps: PodCheckpointDeps, request: CheckpointPodRequest, signal?: AbortSignal): Promise<void> {
  rejectOptions(request.options, 'CheckpointPod');
  const { outputPath } = request;
  await requireEmptyDirectory(outputPath);
  const containers = selectedContainers(deps, request);
  await deps.criu.require();

  const paused: ContainerRecord[] = [];
  try {
    for (const container of containers) {
      await deps.containers.pause(container.id);
      paused.push(container);
    }
    const index: PodCheckpointIndex = {
      podSandboxId: request.podSandboxId,
      containers: containers.map((container, position) => ({
        name: container.metadata.name,
        archive: `container-${position}.tar`,
        image: container.image,
        imageId: container.imageId,
        imageRef: container.imageRef,
      })),
    };
    for (const [position, container] of containers.entries()) {
      signal?.throwIfAborted();
      await deps.containers.checkpoint(container.id, path.join(outputPath, index.containers[position]!.archive), 0);
    }
    await writeFile(path.join(outputPath, POD_FILE), JSON.stringify(index, null, 2));
    signal?.throwIfAborted();
  } catch (error) {
    for (const entry of await readdir(outputPath).catch(() => [])) await rm(path.join(outputPath, entry), { recursive: true, force: true });
    throw error;
  } finally {
    await resumeAll(deps, paused);
  }
}

/** Resumes each paused container even when another's resume fails: the runtime must never leave a frozen pod. */
async function resumeAll(deps: PodCheckpointDeps, paused: readonly ContainerRecord[]): Promise<void> {
  const failures: unknown[] = [];
  for (const container of paused) {
    await deps.containers.resume(container.id).catch((error: unknown) => {
      deps.log.error({ err: error, containerId: container.id }, 'cannot resume a container paused for a pod checkpoint');
      failures.push(error);
    });
  }
  if (failures.length > 0) throw new FailedPreconditionError(`${failures.length} container(s) could not be resumed after the pod checkpoint`);
}

function selectedContainers(deps: PodCheckpointDeps, request: CheckpointPodRequest): ContainerRecord[] {
  if (request.containerIds.length === 0) throw new InvalidArgumentError('CheckpointPod needs container_ids');
  if (new Set(request.containerIds).size !== request.containerIds.length) throw new InvalidArgumentError('container_ids has duplicates');
  const sandbox = deps.sandboxes.require(request.podSandboxId);
  if (sandbox.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${sandbox.id} is not ready`);
  const containers = request.containerIds.map((id) => deps.containers.require(id));
  for (const container of containers) {
    if (container.sandboxId !== sandbox.id) throw new InvalidArgumentError(`container ${container.id} is not in pod sandbox ${sandbox.id}`);
    if (container.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`container ${container.id} is not running`);
  }
  // RestorePod matches containers by name, so two of one name could not be told apart.
  const names = containers.map((container) => container.metadata.name);
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`container_ids name a container name twice: ${names.join(', ')}`);
  return containers;
}

/**
 * A new pod from the caller's config, its containers CREATED from their
 * archives. Anything made is removed again on failure (the pod's removal
 * takes its containers with it).
 */
export async function restorePod(deps: PodCheckpointDeps, request: RestorePodRequest, signal?: AbortSignal): Promise<RestoredPod> {
  rejectOptions(request.options, 'RestorePod');
  const { checkpointPath } = request;
  if (!path.isAbsolute(checkpointPath)) throw new InvalidArgumentError(`checkpoint_path must be an absolute path, not "${checkpointPath}"`);
  const index = await readIndex(checkpointPath);
  const configs = matchConfigs(index, request.containerConfigs);
  await deps.criu.require();

  return CleanupStack.run(deps.log, async (cleanup) => {
    const sandbox = await deps.sandboxes.run(request.sandbox, signal);
    cleanup.push('remove the restored pod and its containers', () => deps.sandboxes.remove(sandbox.id));
    const containers: Array<{ name: string; containerId: string }> = [];
    for (const { config, entry } of configs) {
      signal?.throwIfAborted();
      const archive = path.join(checkpointPath, entry.archive);
      const container = await deps.containers.create(sandbox.id, { ...config, image: { ...config.image!, image: archive } }, signal);
      containers.push({ name: entry.name, containerId: container.id });
    }
    return { podSandboxId: sandbox.id, containers };
  });
}

async function readIndex(checkpointPath: string): Promise<PodCheckpointIndex> {
  try {
    const index = JSON.parse(await readFile(path.join(checkpointPath, POD_FILE), 'utf8')) as PodCheckpointIndex;
    if (!Array.isArray(index.containers)) throw new Error(`${POD_FILE} lists no containers`);
    return index;
  } catch (error) {
    throw new InvalidArgumentError(`${checkpointPath} is not a crion pod checkpoint: ${(error as Error).message}`, { cause: error });
  }
}

/** The configs must name exactly the checkpoint's containers, each expecting the image its container was made from. */
function matchConfigs(index: PodCheckpointIndex, configs: readonly ContainerConfig__Output[]) {
  if (configs.length === 0) throw new InvalidArgumentError('RestorePod needs container_configs');
  const names = configs.map((config) => config.metadata?.name ?? '');
  if (names.includes('')) throw new InvalidArgumentError('every container config needs metadata.name');
  if (new Set(names).size !== names.length) throw new InvalidArgumentError(`container_configs repeat a name: ${names.join(', ')}`);
  const expected = index.containers.map((entry) => entry.name).sort();
  if (JSON.stringify([...names].sort()) !== JSON.stringify(expected)) {
    throw new InvalidArgumentError(`container_configs name ${[...names].sort().join(', ')}; the checkpoint holds ${expected.join(', ')}`);
  }
  return configs.map((config) => {
    const entry = index.containers.find((candidate) => candidate.name === config.metadata!.name)!;
    const image = config.image?.image ?? '';
    if (![entry.image, entry.imageId, entry.imageRef].includes(image)) {
      throw new InvalidArgumentError(`container ${entry.name}: image "${image}" is not "${entry.image}", which the checkpoint was made from`);
    }
    return { config, entry };
  });
}

async function requireEmptyDirectory(outputPath: string): Promise<void> {
  if (!path.isAbsolute(outputPath)) throw new InvalidArgumentError(`output_path must be an absolute path, not "${outputPath}"`);
  if (!(await stat(outputPath).catch(() => null))?.isDirectory())
    throw new InvalidArgumentError(`output_path ${outputPath} is not an existing directory`);
  if ((await readdir(outputPath)).length > 0) throw new InvalidArgumentError(`output_path ${outputPath} is not empty`);
}

/** crion defines no checkpoint or restore options; CRI requires unknown ones to be refused, not ignored. */
function rejectOptions(options: Readonly<Record<string, string>>, rpc: string): void {
  const keys = Object.keys(options);
  if (keys.length > 0) throw new InvalidArgumentError(`${rpc}: unknown option(s) ${keys.sort().join(', ')}; crion supports none`);
}
