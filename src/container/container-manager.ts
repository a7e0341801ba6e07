import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import {
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../errors.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { ImageManager } from '../image/image-manager.js';
import type { LayerStore } from '../image/layer-store.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { NameReservations, recordMarks } from '../lifecycle/name-reservations.js';
import type { Logger } from '../log/logger.js';
import { mountOverlay, pidAlive, unmountOverlay, watchExit } from '../native/index.js';
import {
  cgroupDirOf,
  containerLimits,
  type ContainerLimits,
  containerSpec,
  ociResources,
  resolveUser,
  runtimeHandlerOf,
  sandboxSpec,
  type HostFacts,
  type HostLookups,
  type OciSpec,
  type ResolvedUser,
  type SandboxContext,
  type UserSecurityContext,
} from '../oci/index.js';
import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { ImageRecord } from '../image/image-store.js';
import type { ContainerDefaults } from '../image/manifest.js';
import type { SandboxManager, SandboxRecord } from '../sandbox/sandbox-manager.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { makeDirectories } from '../fs/make-directories.js';
import { containerLogPath } from './container-log-path.js';
import { launchMonitor, monitorCommand, readExitFile, type ExitStatus } from './monitor.js';
import { OciRuntime, RuntimeCommandError } from './oci-runtime.js';

/**
 * Containers: an overlay of the image's layers with a writable layer, an
 * OCI bundle generated from the image and the request, and a crion-monitor
 * that runs the OCI runtime's create, keeps stdio and the CRI log, and
 * records the exit. The daemon learns of exits through pidfd watches on the
 * monitors, so it needs no polling, and after a restart it finds running
 * containers through their monitors and exited ones through exit files.
 *
 *   root/containers/<id>/container.json   the record
 *   root/containers/<id>/{upper,work}     the writable layer
 *   state/c/<id>/                         bundle, rootfs mount point, monitor state
 *   (short: the monitor's sockets live there and must fit a unix socket path)
 */

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: { readonly name: string; readonly attempt: number };
  /** The image as the request named it, and the image's ID. */
  readonly image: string;
  readonly imageId: string;
  readonly imageRef: string;
  /**
   * Chain IDs of the layers its rootfs is mounted from, held for as long as
   * the container exists, whether or not an image still names them. Absent
   * in records written before crion kept it: those fall back to their image.
   */
  readonly layers?: readonly string[];
  readonly config: ContainerConfig__Output;
  readonly state: ContainerState;
  readonly createdAt: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
  readonly pid: number;
  readonly monitorPid: number;
  /** Absolute; empty when the pod has no log directory. */
  readonly logPath: string;
  readonly runtimeHandler: string;
  /** Without the SIG prefix, as `runc kill` takes it: the request's, else the image's, else TERM. */
  readonly stopSignal: string;
  /** The pod's pause process: managed with the pod, never listed. */
  readonly infra: boolean;
  readonly user: { readonly uid: number; readonly gid: number; readonly supplementalGroups: readonly number[] };
  /** Made for a CreateContainer whose caller gave up: the kubelet's retry with the same name gets this container. */
  readonly unclaimed?: boolean;
  /**
   * When a StartContainer began, saved before the runtime's start: a daemon
   * that dies after the start but before recording it finds the container
   * running at its next start, and this is its start time.
   */
  readonly startingAt?: string;
}

export interface ContainerFilter {
  readonly id: string | null;
  readonly sandboxId: string | null;
  readonly state: ContainerState | null;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ExecResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

export interface ContainerManagerDeps {
  readonly records: RecordStore<ContainerRecord>;
  /** state/c: runtime files of each container. */
  readonly runtimeDir: string;
  readonly sandboxes: SandboxManager;
  readonly images: ImageManager;
  readonly layers: LayerStore;
  readonly runtimes: (handler: string) => OciRuntime;
  readonly monitorBinary: string;
  /** The image, pulled first if the store lacks it: the pause image may not be there yet. */
  readonly ensureImage: (name: string) => Promise<ImageRecord>;
  readonly host: HostFacts;
  readonly lookups: HostLookups;
  readonly log: Logger;
}

/** Why a log directory of the client's choosing cannot be made: the path's fault, not the node's. */
const LOG_DIRECTORY_REFUSALS: ReadonlySet<string> = new Set(['ENOTDIR', 'ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENAMETOOLONG']);

/** CRI caps what ExecSync returns of each stream. */
const EXEC_OUTPUT_LIMIT = 16 * 1024 * 1024;

function nanosOf(rfc3339: string): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(rfc3339);
  const seconds = BigInt(Math.floor(Date.parse(`${match?.[1] ?? rfc3339}Z`) / 1000));
  const fraction = BigInt((match?.[2] ?? '0').padEnd(9, '0').slice(0, 9));
  return (seconds * 1_000_000_000n + fraction).toString();
}

export class ContainerManager {
  private readonly names: NameReservations<ContainerRecord>;
  /** Resolves when the container's monitor has exited and its record says so. */
  private readonly exits = new Map<string, Promise<void>>();
  /** Each container keeps its image's layers until it is removed. */
  private readonly layerHolds = new Map<string, () => Promise<void>>();
  /**
   * Creates still running, by pod. Stopping or removing a pod waits for
   * them first: a create that the kubelet gave up on runs on, and would
   * otherwise save its container after the pod's containers were listed,
   * leaving it running in a pod that is gone.
   */
  private readonly creating = new Map<string, Set<Promise<void>>>();
  /** Pods whose removal has begun: no create may start in them any more. */
  private readonly removing = new Set<string>();

  constructor(private readonly deps: ContainerManagerDeps) {
    this.names = new NameReservations(recordMarks(deps.records));
  }

  /**
   * After a daemon restart: hold every container's layers (the caller collects
   * unused layers only after this), follow the monitors still running, record
   * the exits that happened meanwhile.
   */
  async restore(): Promise<void> {
    for (const container of this.deps.records.list()) {
      const layers = container.layers ?? this.deps.images.find(container.imageId)?.layers;
      if (layers) this.layerHolds.set(container.id, this.deps.images.holdLayers(layers));
      if (container.state === 'CONTAINER_EXITED') continue;
      if (container.monitorPid > 0 && pidAlive(container.monitorPid)) {
        if (container.state === 'CONTAINER_CREATED') await this.finishInterruptedStart(container);
        if (this.require(container.id).state === 'CONTAINER_RUNNING') this.follow(container.id);
      } else {
        await this.recordExit(container.id);
      }
    }
    await this.removeOrphans();
  }

  /** A start the daemon died in may have reached the runtime: then the container runs, whatever its record says. */
  private async finishInterruptedStart(container: ContainerRecord): Promise<void> {
    if (container.startingAt === undefined) return;
    const status = await this.deps.runtimes(container.runtimeHandler).status(container.id);
    if (status !== 'running' && status !== 'stopped') return;
    await this.deps.records.save({ ...container, state: 'CONTAINER_RUNNING', startedAt: container.startingAt });
    this.deps.log.info({ containerId: container.id }, 'a start the daemon died in had started the container');
  }

  /**
   * What a create the daemon died in left behind. A container's record is
   * saved last, and RecordStore.open has already dropped the writable layer
   * of one without a record, but its runtime directory still holds the
   * rootfs mount and the OCI runtime's container, whose monitor and
   * `runc init` wait for a start that never comes. An infra container whose
   * pod does not name it was started by a RunPodSandbox that died before
   * saving the pod; nothing would ever stop it. A step that fails is logged
   * and retried at the next start.
   */
  private async removeOrphans(): Promise<void> {
    for (const container of this.deps.records.list()) {
      if (container.infra && this.deps.sandboxes.get(container.sandboxId)?.infraContainerId !== container.id) {
        await this.remove(container.id).catch((error: unknown) =>
          this.deps.log.error({ err: error, containerId: container.id }, 'cannot remove an infra container its pod never recorded'),
        );
      }
    }
    const ids = await readdir(this.deps.runtimeDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    for (const id of ids.filter((candidate) => this.deps.records.get(candidate) === undefined)) {
      const runtimeDir = path.join(this.deps.runtimeDir, id);
      try {
        const spec = await readFile(path.join(runtimeDir, 'config.json'), 'utf8').catch(() => null);
        // Without a config.json the monitor was never started, so the runtime has no such container.
        const handler = spec === null ? null : runtimeHandlerOf((JSON.parse(spec) as OciSpec).annotations);
        if (handler !== null) await this.deps.runtimes(handler).delete(id);
        await unmountOverlay(path.join(runtimeDir, 'rootfs'));
        await rm(runtimeDir, { recursive: true, force: true });
        this.deps.log.info({ containerId: id }, 'removed what a container the daemon died creating left behind');
      } catch (error) {
        this.deps.log.error({ err: error, containerId: id }, 'cannot remove what a container the daemon died creating left behind; retried at the next start');
      }
    }
  }

  /** `signal` is the caller's: a create it gives up on still finishes, for the kubelet's retry to collect. */
  async create(sandboxId: string, config: ContainerConfig__Output | null, signal?: AbortSignal): Promise<ContainerRecord> {
    if (config === null || config.metadata === null || config.metadata.name === '') {
      throw new InvalidArgumentError('CreateContainer needs a config with metadata.name');
    }
    const sandbox = this.deps.sandboxes.require(sandboxId);
    if (sandbox.state !== 'SANDBOX_READY' || this.removing.has(sandbox.id)) {
      throw new FailedPreconditionError(`pod sandbox ${sandbox.id} is not ready`);
    }
    const imageName = config.image?.image ?? '';
    if (imageName === '') throw new InvalidArgumentError('CreateContainer needs config.image.image');
    const image = this.deps.images.find(imageName);
    if (!image) throw new NotFoundError(`image "${imageName}" not found; pull it first`);
    const logPath = containerLogPath(sandbox.logDirectory, config.logPath);

    const name = `${config.metadata.name}_${sandbox.metadata.name}_${sandbox.metadata.namespace}_${sandbox.metadata.uid}_${config.metadata.attempt}`;
    const created = this.names.create({
      name,
      signal,
      existing: () => this.deps.records.list().find((container) => !container.infra && this.reservedName(container) === name),
      describe: (container) => `container ${container.id}`,
      make: () => CleanupStack.run(this.deps.log, (cleanup) => this.make(sandbox, config, imageName, image.id, logPath, cleanup)),
    });
    // In the same tick as the readiness check above, so a stop or removal either sees this create or refuses it.
    this.trackCreate(sandbox.id, created);
    return created;
  }

  private trackCreate(sandboxId: string, created: Promise<unknown>): void {
    const inPod = this.creating.get(sandboxId) ?? new Set<Promise<void>>();
    this.creating.set(sandboxId, inPod);
    const settled = created.then(
      () => undefined,
      () => undefined,
    );
    inPod.add(settled);
    void settled.then(() => {
      inPod.delete(settled);
      if (inPod.size === 0) this.creating.delete(sandboxId);
    });
  }

  /** Resolves once every create begun in the pod so far has saved its container or undone itself. */
  private async settleCreates(sandboxId: string): Promise<void> {
    await Promise.all(this.creating.get(sandboxId) ?? []);
  }

  private reservedName(container: ContainerRecord): string {
    const sandbox = this.deps.sandboxes.get(container.sandboxId);
    return `${container.metadata.name}_${sandbox?.metadata.name}_${sandbox?.metadata.namespace}_${sandbox?.metadata.uid}_${container.metadata.attempt}`;
  }

  private async make(
    sandbox: SandboxRecord,
    config: ContainerConfig__Output,
    imageName: string,
    imageId: string,
    logPath: string,
    cleanup: CleanupStack,
  ): Promise<ContainerRecord> {
    const limits = containerLimits(config.linux?.resources ?? null, this.deps.host);
    const launched = await this.launch(sandbox, imageName, this.deps.images.require(imageId), {
      securityContext: config.linux?.securityContext ?? null,
      logPath,
      terminal: config.tty,
      stdin: config.stdin,
      cleanup,
      spec: ({ id, rootfs, identity, imageConfig, sandboxContext }) =>
        containerSpec({
          containerId: id,
          config,
          sandbox: sandboxContext,
          image: imageConfig,
          imageName,
          rootfs,
          identity,
          targetPidNamespace: this.targetPidNamespace(config),
          limits,
          host: this.deps.host,
          lookups: this.deps.lookups,
        }),
    });
    const record: ContainerRecord = {
      ...launched,
      metadata: { name: config.metadata!.name, attempt: config.metadata!.attempt },
      config,
      logPath,
      stopSignal: stopSignalOf(config, launched.imageStopSignal),
      infra: false,
    };
    await this.deps.records.save(record);
    this.layerHolds.set(record.id, launched.release);
    this.logDroppedLimits(record.id, limits);
    this.deps.log.info({ containerId: record.id, podSandboxId: sandbox.id, name: record.metadata.name, image: imageName }, 'container created');
    return record;
  }

  /**
   * The infra container of a pod whose PID namespace is shared: a pause
   * process whose PID namespace the pod's containers join. It is started at
   * once and hidden from ListContainers, as containerd and CRI-O hide theirs.
   */
  async startInfra(sandbox: SandboxRecord, imageName: string): Promise<{ containerId: string; pid: number }> {
    const image = await this.deps.ensureImage(imageName);
    const record = await CleanupStack.run(this.deps.log, async (cleanup) => {
      const launched = await this.launch(sandbox, imageName, image, {
        securityContext: (sandbox.config as PodSandboxConfig__Output).linux?.securityContext ?? null,
        logPath: '',
        terminal: false,
        stdin: false,
        cleanup,
        spec: ({ rootfs, identity, imageConfig, sandboxContext }) =>
          sandboxSpec({ sandbox: sandboxContext, image: imageConfig, imageName, rootfs, identity, host: this.deps.host, lookups: this.deps.lookups }),
      });
      const infra: ContainerRecord = {
        ...launched,
        metadata: { name: 'infra', attempt: 0 },
        config: { metadata: { name: 'infra', attempt: 0 }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output,
        logPath: '',
        stopSignal: 'KILL',
        infra: true,
      };
      await this.deps.records.save(infra);
      cleanup.push('remove the infra record', () => this.deps.records.remove(infra.id));
      await this.deps.runtimes(sandbox.runtimeHandler).start(infra.id);
      const running = { ...infra, state: 'CONTAINER_RUNNING' as const, startedAt: unixNanos() };
      await this.deps.records.save(running);
      this.layerHolds.set(infra.id, launched.release);
      return running;
    });
    this.follow(record.id);
    return { containerId: record.id, pid: record.pid };
  }

  /** Rootfs, bundle and monitor: what every container needs, each step undone on failure. */
  private async launch(
    sandbox: SandboxRecord,
    imageName: string,
    image: ImageRecord,
    options: {
      securityContext: UserSecurityContext | null;
      logPath: string;
      terminal: boolean;
      stdin: boolean;
      cleanup: CleanupStack;
      spec: (input: {
        id: string;
        rootfs: string;
        identity: ResolvedUser;
        imageConfig: ContainerDefaults;
        sandboxContext: SandboxContext;
      }) => OciSpec;
    },
  ) {
    const { cleanup } = options;
    const id = randomBytes(32).toString('hex');
    const imageConfig = await this.deps.images.config(image);

    const persistentDir = this.deps.records.dirOf(id);
    const runtimeDir = path.join(this.deps.runtimeDir, id);
    await mkdir(path.join(persistentDir, 'upper'), { recursive: true, mode: 0o755 });
    await mkdir(path.join(persistentDir, 'work'), { mode: 0o700 });
    cleanup.push('remove the writable layer', () => rm(persistentDir, { recursive: true, force: true }));
    const rootfs = path.join(runtimeDir, 'rootfs');
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
    cleanup.push('remove the container runtime directory', () => rm(runtimeDir, { recursive: true, force: true }));

    const release = this.deps.images.holdLayers(image.layers);
    cleanup.push('release the image layers', release);
    await mountOverlay({
      target: rootfs,
      lowerDirs: this.deps.layers.lowerDirs(image.layers),
      upperDir: path.join(persistentDir, 'upper'),
      workDir: path.join(persistentDir, 'work'),
      cwd: this.deps.layers.overlayDir,
      readonly: false,
    });
    cleanup.push('unmount the rootfs', () => unmountOverlay(rootfs).then(() => undefined));

    const identity = resolveUser(
      options.securityContext,
      imageConfig.config.user,
      await readFile(path.join(rootfs, 'etc', 'passwd'), 'utf8').catch(() => null),
      await readFile(path.join(rootfs, 'etc', 'group'), 'utf8').catch(() => null),
    );
    const spec = options.spec({
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
          infraPid: this.infraPidOf(sandbox),
        },
        files: { hosts: sandbox.files.hosts, resolvConf: sandbox.files.resolvConf, hostname: sandbox.files.hostname, shm: sandbox.shm },
        runtimeHandler: sandbox.runtimeHandler,
      },
    });
    await writeFile(path.join(runtimeDir, 'config.json'), JSON.stringify(spec));

    const monitorLog = options.logPath === '' ? path.join(runtimeDir, 'discarded.log') : options.logPath;
    await makeDirectories(path.dirname(monitorLog)).catch((error: NodeJS.ErrnoException) => {
      if (!LOG_DIRECTORY_REFUSALS.has(error.code ?? '')) throw error;
      throw new InvalidArgumentError(`log_path ${options.logPath}: cannot make its directory: ${error.message}`, { cause: error });
    });
    const runtime = this.deps.runtimes(sandbox.runtimeHandler);
    cleanup.push('delete the container from the OCI runtime', () => runtime.delete(id));
    const started = await launchMonitor({
      binary: this.deps.monitorBinary,
      containerId: id,
      bundle: runtimeDir,
      stateDir: runtimeDir,
      logPath: monitorLog,
      runtime: runtime.handler.binary,
      runtimeRoot: runtime.handler.root,
      terminal: options.terminal,
      stdin: options.stdin,
      memoryCgroup: this.memoryCgroupOf(spec.linux?.cgroupsPath ?? null),
    });
    return {
      id,
      sandboxId: sandbox.id,
      image: imageName,
      imageId: image.id,
      imageRef: image.repoDigests[0] ?? image.id,
      layers: image.layers,
      state: 'CONTAINER_CREATED' as const,
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
      imageStopSignal: imageConfig.config.stopSignal,
      release,
    };
  }

  /** The pause process of a pod with a shared PID namespace, while it runs. */
  private infraPidOf(sandbox: SandboxRecord): number | null {
    if (sandbox.infraContainerId === null) return null;
    const infra = this.deps.records.get(sandbox.infraContainerId);
    return infra?.state === 'CONTAINER_RUNNING' ? infra.pid : null;
  }

  private targetPidNamespace(config: ContainerConfig__Output): string | null {
    const options = config.linux?.securityContext?.namespaceOptions;
    if (options?.pid !== 'TARGET') return null;
    const target = this.require(options.targetId);
    if (target.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`target container ${target.id} is not running`);
    return `/proc/${target.pid}/ns/pid`;
  }

  /** cgroup v1 memory hierarchy path for cgroupfs paths; null where crion cannot tell (then no OOM detection). */
  /** Where the monitor finds OOM kills; systemd's slice:prefix:name form is expanded like runc expands it. */
  private memoryCgroupOf(cgroupsPath: string | null): string | null {
    if (cgroupsPath === null) return null;
    const dir = cgroupDirOf(cgroupsPath);
    if (this.deps.host.cgroupLayout === 'v2') return path.join('/sys/fs/cgroup', dir);
    return path.join('/sys/fs/cgroup/memory', dir);
  }

  async start(id: string): Promise<void> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_CREATED') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}; only a created container can start`);
    }
    await this.deps.records.save({ ...container, startingAt: unixNanos() });
    try {
      await this.deps.runtimes(container.runtimeHandler).start(container.id);
    } catch (error) {
      await this.recordExit(container.id, error instanceof RuntimeCommandError ? error.stderr : String(error));
      throw error;
    }
    await this.deps.records.save({ ...this.require(id), state: 'CONTAINER_RUNNING', startedAt: unixNanos() });
    this.follow(container.id);
  }

  /** Watches the monitor; its exit means the exit file is written. */
  private follow(id: string): void {
    const container = this.require(id);
    if (this.exits.has(id)) return;
    const exited = watchExit(container.monitorPid)
      .catch(() => undefined)
      .then(() => this.recordExit(id));
    this.exits.set(id, exited);
  }

  private async recordExit(id: string, failure?: string): Promise<void> {
    const container = this.deps.records.get(id);
    if (!container || container.state === 'CONTAINER_EXITED') return;
    const status: ExitStatus | null = await readExitFile(path.join(this.deps.runtimeDir, id));
    const reason = failure !== undefined ? 'StartError' : status?.oomKilled ? 'OOMKilled' : status && status.exitCode === 0 ? 'Completed' : 'Error';
    await this.deps.records.save({
      ...container,
      state: 'CONTAINER_EXITED',
      finishedAt: status ? nanosOf(status.exitedAt) : unixNanos(),
      exitCode: status?.exitCode ?? (failure !== undefined ? 128 : 255),
      reason,
      message: failure ?? (status ? '' : 'the container monitor died without recording an exit status'),
    });
    this.deps.log.info({ containerId: id, exitCode: status?.exitCode ?? null, reason }, 'container exited');
    if (container.infra) await this.deps.sandboxes.infraExited(container.sandboxId, id);
  }

  /**
   * The stop signal, then SIGKILL after `timeoutSeconds`. Stopping a
   * stopped or missing container succeeds, as CRI requires.
   */
  async stop(id: string, timeoutSeconds: number): Promise<void> {
    const container = this.find(id);
    if (!container || container.state === 'CONTAINER_EXITED') return;
    const runtime = this.deps.runtimes(container.runtimeHandler);
    if (container.state === 'CONTAINER_CREATED') {
      // Never started: nothing to wait for; the monitor records the exit when the runtime removes the init.
      await runtime.delete(container.id);
      await this.waitExit(container.id, 10_000);
      return;
    }
    const signal = container.stopSignal;
    if (timeoutSeconds > 0) {
      await runtime.kill(container.id, signal);
      if (await this.waitExit(container.id, timeoutSeconds * 1000)) return;
    }
    await runtime.kill(container.id, 'KILL');
    await this.waitExit(container.id, 30_000);
  }

  /** True when the container exited within `timeoutMs`. */
  private async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    this.follow(id);
    const exited = this.exits.get(id)!;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return outcome;
  }

  /** Removing a missing container succeeds; a running one is killed first. */
  async remove(id: string): Promise<void> {
    const container = this.find(id);
    if (!container) return;
    await this.stop(container.id, 0);
    await this.deps.runtimes(container.runtimeHandler).delete(container.id);
    const runtimeDir = path.join(this.deps.runtimeDir, container.id);
    await unmountOverlay(path.join(runtimeDir, 'rootfs'));
    await rm(runtimeDir, { recursive: true, force: true });
    await this.deps.records.remove(container.id);
    this.exits.delete(container.id);
    await this.layerHolds.get(container.id)?.();
    this.layerHolds.delete(container.id);
  }

  /** UpdateContainerResources: the new limits go to the cgroup through the OCI runtime and into the record. */
  async updateResources(id: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_RUNNING' && container.state !== 'CONTAINER_CREATED') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}; only a live container takes new limits`);
    }
    const file = path.join(this.deps.runtimeDir, container.id, 'resources.json');
    const limits = containerLimits(resources, this.deps.host);
    this.logDroppedLimits(container.id, limits);
    await writeFile(file, JSON.stringify(ociResources(limits)));
    await this.deps.runtimes(container.runtimeHandler).update(container.id, file);
    const linux = { ...(container.config.linux ?? { securityContext: null }), resources };
    await this.deps.records.save({ ...container, config: { ...container.config, linux } as ContainerConfig__Output });
  }

  private logDroppedLimits(containerId: string, limits: ContainerLimits): void {
    if (limits.dropped.length > 0) this.deps.log.debug({ containerId, dropped: limits.dropped }, 'limits this node cannot apply were left out');
  }

  async reopenLog(id: string): Promise<void> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_RUNNING') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}, not running`);
    }
    await monitorCommand(path.join(this.deps.runtimeDir, container.id), 'reopen');
  }

  /** Runs `command` in the container through the OCI runtime; DEADLINE_EXCEEDED when `timeoutSeconds` passes. */
  async execSync(id: string, command: readonly string[], timeoutSeconds: number): Promise<ExecResult> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_RUNNING') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}, not running`);
    }
    if (command.length === 0) throw new InvalidArgumentError('ExecSync needs a command');
    const { handler } = this.deps.runtimes(container.runtimeHandler);
    const pidFile = path.join(this.deps.runtimeDir, container.id, `exec-${randomBytes(6).toString('hex')}.pid`);
    return new Promise<ExecResult>((resolve, reject) => {
      const child = execFile(
        handler.binary,
        ['--root', handler.root, 'exec', '--pid-file', pidFile, container.id, ...command],
        { maxBuffer: EXEC_OUTPUT_LIMIT * 2, encoding: 'buffer' },
        (error, stdout, stderr) => {
          void rm(pidFile, { force: true });
          if (timedOut) return;
          const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null;
          if (code === null) {
            reject(new FailedPreconditionError(`exec in ${container.id} failed: ${String(stderr).trim() || error?.message}`));
            return;
          }
          resolve({ stdout: cap(stdout), stderr: cap(stderr), exitCode: code });
        },
      );
      let timedOut = false;
      const timer =
        timeoutSeconds > 0
          ? setTimeout(() => {
              timedOut = true;
              // Killing runc exec would leave the command running, so the command itself is
              // killed, and the caller hears of the timeout only once it is gone.
              void killExecProcess(pidFile)
                .finally(() => child.kill('SIGKILL'))
                .then(() => reject(new DeadlineExceededError(`command ${JSON.stringify(command)} timed out after ${timeoutSeconds}s`)));
            }, timeoutSeconds * 1000)
          : undefined;
      child.once('close', () => clearTimeout(timer));
    });
  }

  require(id: string): ContainerRecord {
    const container = this.find(id);
    if (!container) throw new NotFoundError(`container "${id}" not found`);
    return container;
  }

  /** By full ID or a unique prefix, as crictl users type them. */
  find(idOrPrefix: string): ContainerRecord | undefined {
    return this.deps.records.find(idOrPrefix);
  }

  /** The overlay upper directory: what the container wrote, for its stats. */
  writableLayerOf(id: string): string {
    return path.join(this.deps.records.dirOf(id), 'upper');
  }

  /**
   * The linux.cgroupsPath the container was created with, from its bundle:
   * the one source that stays right for infra containers (named after
   * their pod) and across a change of cgroup driver. null once the bundle
   * is gone.
   */
  async cgroupsPathOf(id: string): Promise<string | null> {
    const text = await readFile(path.join(this.deps.runtimeDir, id, 'config.json'), 'utf8').catch(() => null);
    if (text === null) return null;
    const spec = JSON.parse(text) as OciSpec;
    return spec.linux?.cgroupsPath ?? null;
  }

  list(filter: ContainerFilter | null): ContainerRecord[] {
    return this.deps.records.list().filter(
      (container) =>
        !container.infra &&
        (filter === null ||
        ((filter.id === null || container.id.startsWith(filter.id)) &&
          (filter.sandboxId === null || container.sandboxId.startsWith(filter.sandboxId)) &&
          (filter.state === null || container.state === filter.state) &&
          Object.entries(filter.labels).every(([key, value]) => container.config.labels[key] === value))),
    );
  }

  async stopAllOf(sandboxId: string, timeoutSeconds: number): Promise<void> {
    await this.settleCreates(sandboxId);
    await Promise.all(this.list({ id: null, sandboxId, state: null, labels: {} }).map((container) => this.stop(container.id, timeoutSeconds)));
  }

  /** Also refuses new creates in the pod from now on: the caller is removing it. */
  async removeAllOf(sandboxId: string): Promise<void> {
    // Marks of pods already gone are dropped here, so the set never outgrows the pods that exist.
    for (const id of this.removing) if (!this.deps.sandboxes.get(id)) this.removing.delete(id);
    this.removing.add(sandboxId);
    await this.settleCreates(sandboxId);
    await Promise.all(this.list({ id: null, sandboxId, state: null, labels: {} }).map((container) => this.remove(container.id)));
  }
}

function stopSignalOf(config: ContainerConfig__Output, imageStopSignal: string | null): string {
  if (config.stopSignal !== 'SIGNAL_RUNTIME_DEFAULT') return config.stopSignal.replace(/^SIGNAL_SIG/, '');
  if (imageStopSignal) return imageStopSignal.replace(/^SIG/, '');
  return 'TERM';
}

/**
 * runc writes the pid file once the process exists; under load that can be
 * after the timeout. Returns once the process has exited, not merely been
 * signalled: the caller answers DEADLINE_EXCEEDED only when it is gone.
 */
async function killExecProcess(pidFile: string): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 50) {
    const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    if (pid > 0) {
      // Watched before the kill, so the pid cannot be reused in between; a process already gone rejects.
      const exited = watchExit(pid).catch(() => undefined);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await exited;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function cap(output: Buffer): Buffer {
  return output.length > EXEC_OUTPUT_LIMIT ? output.subarray(0, EXEC_OUTPUT_LIMIT) : output;
}

function stateWord(state: ContainerState): string {
  return state.replace('CONTAINER_', '').toLowerCase();
}
