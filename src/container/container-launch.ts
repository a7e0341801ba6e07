import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { applyRootfsDiff, IMAGES_DIR } from '../checkpoint/checkpoint-archive.js';
import { InvalidArgumentError } from '../errors.js';
import { makeDirectories } from '../fs/make-directories.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { ImageManager } from '../image/image-manager.js';
import type { ImageRecord } from '../image/image-store.js';
import type { LayerStore } from '../image/layer-store.js';
import type { ContainerDefaults } from '../image/manifest.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { StepTimes } from '../log/step-times.js';
import {
  cgroupDirOf,
  resolveUser,
  type HostFacts,
  type OciSpec,
  type ResolvedUser,
  type SandboxContext,
  type UserSecurityContext,
} from '../oci/index.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { writeBundleSpec } from './bundle.js';
import type { ContainerHost } from './container-host.js';
import type { ContainerRecord } from './container-record.js';
import { imageVolumesOf, mountImageVolumes, unmountImageVolumes, type ImageVolumeRequest } from './image-volumes.js';
import type { ContainerRuntime } from './oci-runtime.js';

/**
 * What every container needs before it can start, app or infra alike: a
 * writable layer, the rootfs overlay of its image's layers, its image
 * volumes, the OCI bundle, and a crion-monitor that runs the runtime's
 * create. Each step pushes its undo onto the caller's cleanup stack, so a
 * failure anywhere leaves nothing.
 */

export interface LaunchDeps {
  /** Each record's directory holds the container's writable layer; the pod's infra record gives its PID namespace. */
  readonly records: Pick<RecordStore<ContainerRecord>, 'dirOf' | 'get'>;
  /** state/c: bundles, rootfs mount points and monitor state. */
  readonly runtimeDir: string;
  readonly images: Pick<ImageManager, 'config' | 'holdLayers'>;
  readonly layers: Pick<LayerStore, 'lowerDirs' | 'overlayDir'>;
  readonly runtimes: (handler: string) => ContainerRuntime;
  readonly monitorBinary: string;
  readonly host: HostFacts;
  readonly containerHost: ContainerHost;
}

export interface LaunchOptions {
  readonly securityContext: UserSecurityContext | null;
  readonly logPath: string;
  readonly stdin: boolean;
  readonly cleanup: CleanupStack;
  /** The request's image mounts, checked by imageVolumeRequests; none for an infra container. */
  readonly imageVolumes: readonly ImageVolumeRequest[];
  readonly spec: (input: SpecInput) => OciSpec;
  /** A checkpoint to make the container from instead of starting it fresh; null for a new container. */
  readonly checkpoint: CheckpointSource | null;
  /** The caller's: each step below is timed into it. */
  readonly steps: StepTimes;
}

export interface CheckpointSource {
  /** The unpacked archive, a directory beside the container records; it becomes the container's. */
  readonly unpacked: string;
  /** The process the checkpoint holds: CRIU restores it as it was, whatever the new config asks. */
  readonly process: OciSpec['process'];
}

export interface SpecInput {
  readonly id: string;
  readonly rootfs: string;
  readonly identity: ResolvedUser;
  readonly imageConfig: ContainerDefaults;
  readonly sandboxContext: SandboxContext;
  /** By CRI mount index: where each image volume, or its sub-path, is on the host. */
  readonly imageVolumeSources: ReadonlyMap<number, string>;
}

export interface Launched {
  /**
   * The record but for what the caller adds: its name, config, log path, stop signal and role. A container
   * made from a checkpoint has no monitor yet (pid 0): its start restores it.
   */
  readonly created: Omit<ContainerRecord, 'metadata' | 'config' | 'logPath' | 'stopSignal' | 'infra'>;
  readonly imageStopSignal: string | null;
  /** Gives back the hold on the layers of its image and image volumes: call it when the container is removed. */
  readonly release: () => Promise<void>;
}

/** Why a log directory of the client's choosing cannot be made: the path's fault, not the node's. */
const LOG_DIRECTORY_REFUSALS: ReadonlySet<string> = new Set(['ENOTDIR', 'ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG']);

export async function launchContainer(
  deps: LaunchDeps,
  sandbox: SandboxRecord,
  imageName: string,
  image: ImageRecord,
  options: LaunchOptions,
): Promise<Launched> {
  const { cleanup, steps } = options;
  const id = randomBytes(32).toString('hex');
  const imageConfig = await steps.time('image config', () => deps.images.config(image));

  const persistentDir = deps.records.dirOf(id);
  const runtimeDir = path.join(deps.runtimeDir, id);
  const rootfs = path.join(runtimeDir, 'rootfs');
  await steps.time('directories', async () => {
    await mkdir(path.join(persistentDir, 'upper'), { recursive: true, mode: 0o755 });
    await mkdir(path.join(persistentDir, 'work'), { mode: 0o700 });
    cleanup.push('remove the writable layer', () => rm(persistentDir, { recursive: true, force: true }));
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
  });
  cleanup.push('remove the container runtime directory', () => rm(runtimeDir, { recursive: true, force: true }));

  const restoreDir = path.join(persistentDir, 'restore');
  if (options.checkpoint !== null) {
    await rename(options.checkpoint.unpacked, restoreDir);
    await applyRootfsDiff(restoreDir, path.join(persistentDir, 'upper'));
  }

  const release = deps.images.holdLayers([...image.layers, ...options.imageVolumes.flatMap((volume) => volume.image.layers)]);
  cleanup.push('release the image layers', release);
  await steps.time('rootfs mount', () =>
    deps.containerHost.mountRootfs({
      target: rootfs,
      lowerDirs: deps.layers.lowerDirs(image.layers),
      upperDir: path.join(persistentDir, 'upper'),
      workDir: path.join(persistentDir, 'work'),
      cwd: deps.layers.overlayDir,
      readonly: false,
    }),
  );
  cleanup.push('unmount the rootfs', () => deps.containerHost.unmountRootfs(rootfs));
  const imageVolumeSources = await steps.time('image volumes', () => mountImageVolumes(deps, runtimeDir, options.imageVolumes, cleanup));

  const { passwd, group } = await steps.time('passwd and group', async () => ({
    passwd: await readFile(path.join(rootfs, 'etc', 'passwd'), 'utf8').catch(() => null),
    group: await readFile(path.join(rootfs, 'etc', 'group'), 'utf8').catch(() => null),
  }));
  const identity = resolveUser(options.securityContext, imageConfig.config.user, passwd, group);
  const generated = options.spec({
    id,
    rootfs,
    identity,
    imageConfig: imageConfig.config,
    sandboxContext: {
      id: sandbox.id,
      config: sandbox.config as PodSandboxConfig__Output,
      namespaces: {
        network: sandbox.namespaces.net,
        ipc: sandbox.namespaces.ipc,
        uts: sandbox.namespaces.uts,
        pid: sharedPidNamespace(deps, sandbox),
      },
      files: { hosts: sandbox.files.hosts, resolvConf: sandbox.files.resolvConf, hostname: sandbox.files.hostname, shm: sandbox.shm },
      runtimeHandler: sandbox.runtimeHandler,
    },
    imageVolumeSources,
  });
  const spec = options.checkpoint === null ? generated : { ...generated, process: options.checkpoint.process };
  await steps.time('bundle', () => writeBundleSpec(runtimeDir, spec));

  // Before the runtime is involved: a log path that cannot be made is the client's fault, refused here.
  const logFile = await steps.time('log directory', () => makeLogDirectory(runtimeDir, options.logPath));
  let started = { pid: 0, monitorPid: 0 };
  if (options.checkpoint === null) {
    const runtime = deps.runtimes(sandbox.runtimeHandler);
    cleanup.push('delete the container from the OCI runtime', () => runtime.delete(id));
    // The monitor's two execs (it detaches) and the runtime's `create`, which the daemon sees only as one wait.
    started = await steps.time('monitor + runtime create', () =>
      launchContainerMonitor(deps, {
        containerId: id,
        spec,
        runtimeHandler: sandbox.runtimeHandler,
        logFile,
        stdin: options.stdin,
        restore: null,
      }),
    );
  }
  return {
    created: {
      id,
      sandboxId: sandbox.id,
      image: imageName,
      imageId: image.id,
      imageRef: image.repoDigests[0] ?? image.id,
      layers: image.layers,
      imageVolumes: imageVolumesOf(options.imageVolumes),
      state: 'CONTAINER_CREATED',
      createdAt: unixNanos(),
      startedAt: '0',
      finishedAt: '0',
      exitCode: 0,
      reason: '',
      message: '',
      pid: started.pid,
      monitorPid: started.monitorPid,
      runtimeHandler: sandbox.runtimeHandler,
      user: { uid: identity.uid, gid: identity.gid, supplementalGroups: identity.additionalGids },
      ...(options.checkpoint === null ? {} : { restoreImages: path.join(restoreDir, IMAGES_DIR) }),
    },
    imageStopSignal: imageConfig.config.stopSignal,
    release,
  };
}

/**
 * Undoes a container's runtime directory once the OCI runtime has deleted
 * the container: its mounts first, so the removal cannot reach into an
 * image's files.
 */
export async function removeRuntimeDir(containerHost: Pick<ContainerHost, 'unmountRootfs'>, runtimeDir: string): Promise<void> {
  await containerHost.unmountRootfs(path.join(runtimeDir, 'rootfs'));
  await unmountImageVolumes(containerHost, runtimeDir);
  await rm(runtimeDir, { recursive: true, force: true });
}

export interface MonitorRequest {
  readonly containerId: string;
  /** The bundle's spec: its terminal and cgroup decide the monitor's flags. */
  readonly spec: OciSpec;
  readonly runtimeHandler: string;
  /** What makeLogDirectory made of the container's log path. */
  readonly logFile: string;
  readonly stdin: boolean;
  /** CRIU's images to restore the container from; null: the runtime creates it. */
  readonly restore: { readonly images: string; readonly criu: string } | null;
}

/** crion-monitor for a container whose bundle is written: it creates (or restores) the container and keeps its stdio. */
export async function launchContainerMonitor(
  deps: Pick<LaunchDeps, 'runtimeDir' | 'runtimes' | 'monitorBinary' | 'host' | 'containerHost'>,
  request: MonitorRequest,
): Promise<{ pid: number; monitorPid: number }> {
  const runtimeDir = path.join(deps.runtimeDir, request.containerId);
  const runtime = deps.runtimes(request.runtimeHandler);
  return deps.containerHost.launchMonitor({
    binary: deps.monitorBinary,
    containerId: request.containerId,
    bundle: runtimeDir,
    stateDir: runtimeDir,
    logPath: request.logFile,
    runtime: runtime.handler.binary,
    runtimeRoot: runtime.handler.root,
    terminal: request.spec.process?.terminal ?? false,
    stdin: request.stdin,
    memoryCgroup: memoryCgroupOf(request.spec.linux?.cgroupsPath ?? null, deps.host),
    restore: request.restore,
  });
}

/**
 * The file the monitor logs to, its directory made. An empty log path (the pod keeps no logs) sends the output
 * to a file in the runtime directory.
 */
export async function makeLogDirectory(runtimeDir: string, logPath: string): Promise<string> {
  const monitorLog = logPath === '' ? path.join(runtimeDir, 'discarded.log') : logPath;
  await makeDirectories(path.dirname(monitorLog)).catch((error: NodeJS.ErrnoException) => {
    if (!LOG_DIRECTORY_REFUSALS.has(error.code ?? '')) throw error;
    throw new InvalidArgumentError(`log_path ${logPath}: cannot make its directory: ${error.message}`, { cause: error });
  });
  return monitorLog;
}

/** The PID namespace of a pod that shares one, while its pod init or pause container holds it. */
function sharedPidNamespace(deps: LaunchDeps, sandbox: SandboxRecord): string | null {
  if (sandbox.podInit !== undefined) return sandbox.state === 'SANDBOX_READY' ? sandbox.podInit.pin : null;
  if (sandbox.infraContainerId === null) return null;
  const infra = deps.records.get(sandbox.infraContainerId);
  return infra?.state === 'CONTAINER_RUNNING' ? `/proc/${infra.pid}/ns/pid` : null;
}

/** Where the monitor finds OOM kills; systemd's slice:prefix:name form is expanded like runc expands it. null: no OOM detection. */
function memoryCgroupOf(cgroupsPath: string | null, host: HostFacts): string | null {
  if (cgroupsPath === null) return null;
  const dir = cgroupDirOf(cgroupsPath);
  if (host.cgroupLayout === 'v2') return path.join('/sys/fs/cgroup', dir);
  return path.join('/sys/fs/cgroup/memory', dir);
}
