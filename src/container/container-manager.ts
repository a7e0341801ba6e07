import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { namesArchive, unpackArchive } from '../checkpoint/checkpoint-archive.js';
import { checkLocation, checkpointContainer } from '../checkpoint/container-checkpoint.js';
import type { Criu } from '../checkpoint/criu.js';
import type { LifecycleEvents } from '../events/container-events.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import type { ImageManager } from '../image/image-manager.js';
import type { ImageRecord } from '../image/image-store.js';
import type { LayerStore } from '../image/layer-store.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { NameReservations, recordMarks } from '../lifecycle/name-reservations.js';
import type { Logger } from '../log/logger.js';
import { stepTimes, type StepTimes } from '../log/step-times.js';
import type { NriHooks } from '../nri/nri-hooks.js';
import { checkRecursiveReadOnlyMounts, containerLimits, type ContainerLimits, type HostFacts, type HostLookups, type OciSpec } from '../oci/index.js';
import type { HandlerFeatures } from '../runtime/handler-features.js';
import type { SandboxManager, SandboxRecord } from '../sandbox/sandbox-manager.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { readBundleSpec } from './bundle.js';
import { containerLogPath } from './container-log-path.js';
import { applyLimits } from './container-resources.js';
import type { ContainerHost } from './container-host.js';
import { launchAppContainer } from './app-container.js';
import { removeRuntimeDir } from './container-launch.js';
import { imageVolumeRequests, type ImageVolumeRequest } from './image-volumes.js';
import { launchContainerMonitor, makeLogDirectory, type CheckpointSource } from './container-launch.js';
import { containerName, matchesFilter, stateWord, type ContainerFilter, type ContainerRecord } from './container-record.js';
import { restoreContainers, type RestoreObserver } from './container-restore.js';
import type { MonitorAttachment } from './monitor-attach.js';
import { startExecSession, type ExecSession, type ExecSessionOptions } from './exec-session.js';
import { execSync, type ExecResult } from './exec-sync.js';
import { ExitTracker, type ExitObserver } from './exit-tracker.js';
import { runInfraContainer } from './infra-container.js';
import { RuntimeCommandError, type ContainerRuntime } from './oci-runtime.js';
import { PodCreates } from './pod-creates.js';
import { signalNumber } from './signal-number.js';

export type { ContainerFilter, ContainerRecord, ContainerState } from './container-record.js';

/** What a container is made from: an image, and for a restore the unpacked checkpoint too. */
interface ContainerSource {
  readonly imageName: string;
  readonly image: ImageRecord;
  readonly checkpoint: CheckpointSource | null;
}

/**
 * The container state machine: CREATED → RUNNING → EXITED, then removed.
 * A container is an overlay of its image's layers with a writable layer, an
 * OCI bundle generated from the image and the request, and a crion-monitor
 * that runs the OCI runtime's create, keeps stdio and the CRI log, and
 * records the exit (container-launch.ts). Exits are learned through pidfd
 * watches on the monitors (exit-tracker.ts); after a restart, running
 * containers are found through their monitors and exited ones through exit
 * files (container-restore.ts).
 *
 *   root/containers/<id>/container.json   the record
 *   root/containers/<id>/{upper,work}     the writable layer
 *   state/c/<id>/                         bundle, rootfs mount point, monitor state
 *   (short: the monitor's sockets live there and must fit a unix socket path)
 */

export interface ContainerManagerDeps {
  readonly records: RecordStore<ContainerRecord>;
  /** state/c: runtime files of each container. */
  readonly runtimeDir: string;
  readonly sandboxes: Pick<SandboxManager, 'get' | 'require' | 'infraExited'>;
  readonly images: Pick<ImageManager, 'find' | 'require' | 'config' | 'holdLayers'>;
  readonly layers: Pick<LayerStore, 'lowerDirs' | 'overlayDir'>;
  readonly runtimes: (handler: string) => ContainerRuntime;
  readonly monitorBinary: string;
  /** The image, pulled first if the store lacks it: the pause image may not be there yet. */
  readonly ensureImage: (name: string) => Promise<ImageRecord>;
  readonly host: HostFacts;
  /** A runtime handler's features, probed once at start (HandlerFeatureTable.of). */
  readonly handlerFeatures: (handler: string) => Promise<HandlerFeatures>;
  readonly lookups: HostLookups;
  readonly containerHost: ContainerHost;
  /** The bytes a running container uses that the kernel cannot reclaim (its working set); null when unknown. */
  readonly memoryInUse: (containerId: string) => Promise<bigint | null>;
  /** Checkpoint and restore go through it, and answer FAILED_PRECONDITION while it cannot work. */
  readonly criu: Pick<Criu, 'require'>;
  /** Told of each app container's transition once it is recorded (GetContainerEvents). */
  readonly events: LifecycleEvents;
  /** NRI plugins, told of each app container's create, start, stop (or exit) and removal; NO_NRI when NRI is off. */
  readonly nri: NriHooks;
  /** Told of app container exits and of containers a restart recovers (the metrics); none by default. */
  readonly exitObserver?: ExitObserver;
  readonly restoreObserver?: RestoreObserver;
  readonly log: Logger;
}

/** How long a stop waits for an exit after SIGKILL, and for a never-started container after its delete. */
const KILLED_EXIT_WAIT_MS = 30_000;
const UNSTARTED_EXIT_WAIT_MS = 10_000;

export class ContainerManager {
  private readonly names: NameReservations<ContainerRecord>;
  private readonly exits: ExitTracker;
  private readonly creates = new PodCreates();
  /** Each container keeps its image's layers until it is removed. */
  private readonly layerHolds = new Map<string, () => Promise<void>>();

  constructor(private readonly deps: ContainerManagerDeps) {
    this.names = new NameReservations(recordMarks(deps.records));
    this.exits = new ExitTracker({
      ...deps,
      // An exit is a stop to NRI plugins, whether or not a StopContainer asked for it.
      events: {
        publish: (type, containerId, sandboxId, removedSandbox, removedContainer) => {
          deps.events.publish(type, containerId, sandboxId, removedSandbox, removedContainer);
          if (type === 'CONTAINER_STOPPED_EVENT') void this.tellStopped(containerId);
        },
      },
      infraExited: (sandboxId, containerId) => deps.sandboxes.infraExited(sandboxId, containerId),
    });
  }

  /** NRI's StopContainer for an app container that has exited; told once, however many paths report the exit. */
  private async tellStopped(containerId: string): Promise<void> {
    const container = this.deps.records.get(containerId);
    const sandbox = container ? this.deps.sandboxes.get(container.sandboxId) : undefined;
    if (!container || container.infra || !sandbox) return;
    try {
      await this.deps.nri.stopContainer(sandbox, container);
    } catch (error) {
      this.deps.log.error({ err: error, containerId }, 'cannot tell NRI plugins of a container stop');
    }
  }

  /** After a daemon restart; the caller collects unused layers only after this, since it holds every container's. */
  restore(): Promise<void> {
    return restoreContainers({
      ...this.deps,
      exits: this.exits,
      holdLayers: (id, release) => this.layerHolds.set(id, release),
      remove: (id) => this.remove(id),
    });
  }

  /** `signal` is the caller's: a create it gives up on still finishes, for the kubelet's retry to collect. */
  async create(sandboxId: string, config: ContainerConfig__Output | null, signal?: AbortSignal): Promise<ContainerRecord> {
    if (config === null || config.metadata === null || config.metadata.name === '') {
      throw new InvalidArgumentError('CreateContainer needs a config with metadata.name');
    }
    const steps = stepTimes(this.deps.log, 'CreateContainer steps');
    const metadata = config.metadata;
    const sandbox = this.deps.sandboxes.require(sandboxId);
    if (sandbox.state !== 'SANDBOX_READY' || this.creates.isRemoving(sandbox.id)) {
      throw new FailedPreconditionError(`pod sandbox ${sandbox.id} is not ready`);
    }
    const imageName = config.image?.image ?? '';
    if (imageName === '') throw new InvalidArgumentError('CreateContainer needs config.image.image');
    // As CRI-O: an image that names a file is a checkpoint archive to make the container from.
    const archive = (await namesArchive(imageName)) ? imageName : null;
    const image = archive === null ? this.deps.images.find(imageName) : null;
    if (archive === null && !image) throw new NotFoundError(`image "${imageName}" not found; pull it first`);
    if (archive !== null) await this.deps.criu.require();
    const imageVolumes = imageVolumeRequests(config.mounts, this.deps.images);
    const handler = await this.deps.handlerFeatures(sandbox.runtimeHandler);
    checkRecursiveReadOnlyMounts(config.mounts, { recursiveReadOnly: handler.recursiveReadOnlyMounts, runtimeHandler: sandbox.runtimeHandler });
    const logPath = containerLogPath(sandbox.logDirectory, config.logPath);

    const name = containerName(metadata, sandbox.metadata);
    const created = this.names.create({
      name,
      signal,
      existing: () =>
        this.deps.records
          .list()
          .find(
            (container) => !container.infra && containerName(container.metadata, this.deps.sandboxes.get(container.sandboxId)?.metadata) === name,
          ),
      describe: (container) => `container ${container.id}`,
      make: (callerGaveUp) =>
        CleanupStack.run(this.deps.log, async (cleanup) => {
          const source = archive === null ? { imageName, image: image!, checkpoint: null } : await this.unpackCheckpoint(archive, cleanup);
          return this.make(sandbox, { ...config, metadata }, { ...source, imageVolumes, logPath, handler, steps }, cleanup, callerGaveUp);
        }),
    });
    // In the same tick as the readiness check above, so a stop or removal either sees this create or refuses it.
    this.creates.track(sandbox.id, created);
    const record = await created;
    steps.done({ podSandboxId: sandbox.id, containerId: record.id });
    return record;
  }

  /**
   * The archive unpacked beside the container records (a leftover there is removed at the next start) and
   * the image it was made from, which must be in the store: the checkpoint holds only what the container wrote.
   */
  private async unpackCheckpoint(archive: string, cleanup: CleanupStack): Promise<ContainerSource> {
    const unpacked = this.deps.records.dirOf(`.restore-${randomBytes(8).toString('hex')}`);
    await mkdir(unpacked, { mode: 0o700 });
    cleanup.push('remove the unpacked checkpoint', () => rm(unpacked, { recursive: true, force: true }));
    const { container, spec } = await unpackArchive(archive, unpacked);
    const image = this.deps.images.find(container.rootfsImage);
    if (!image) {
      throw new NotFoundError(
        `image "${container.rootfsImageName}" (${container.rootfsImage}) the checkpoint ${archive} was made from is not in the store; pull it first`,
      );
    }
    return { imageName: container.rootfsImageName, image, checkpoint: { unpacked, process: spec.process } };
  }

  private async make(
    sandbox: SandboxRecord,
    config: ContainerConfig__Output & { metadata: { name: string; attempt: number } },
    checked: ContainerSource & { imageVolumes: readonly ImageVolumeRequest[]; logPath: string; handler: HandlerFeatures; steps: StepTimes },
    cleanup: CleanupStack,
    callerGaveUp: () => boolean,
  ): Promise<ContainerRecord> {
    const limits = containerLimits(config.linux?.resources ?? null, this.deps.host);
    const targetPidNamespace = this.targetPidNamespace(config);
    const launched = await launchAppContainer(this.deps, { sandbox, config, ...checked, targetPidNamespace, limits }, cleanup);
    const { release } = launched;
    // NRI plugins decide on the container before it is recorded, so it is not listed while they do; a refusal
    // throws, and the cleanup stack deletes what launchAppContainer made. Saved already marked when the caller
    // has left: see NameReservations.create.
    const record = await checked.steps.time('nri + record', () =>
      this.deps.nri.createContainer(sandbox, launched.record, async () => {
        const made: ContainerRecord = { ...launched.record, ...(callerGaveUp() ? { unclaimed: true } : {}) };
        await this.deps.records.save(made);
        return made;
      }),
    );
    this.layerHolds.set(record.id, release);
    this.deps.events.publish('CONTAINER_CREATED_EVENT', record.id, sandbox.id);
    this.logDroppedLimits(record.id, limits);
    return record;
  }

  /**
   * The infra container of a pod whose PID namespace is shared: a pause
   * process whose PID namespace the pod's containers join, started at once
   * and never listed.
   */
  async startInfra(sandbox: SandboxRecord, imageName: string): Promise<{ containerId: string; pid: number }> {
    const image = await this.deps.ensureImage(imageName);
    const { record, release } = await runInfraContainer(this.deps, sandbox, imageName, image);
    this.layerHolds.set(record.id, release);
    this.exits.follow(record);
    return { containerId: record.id, pid: record.pid };
  }

  private targetPidNamespace(config: ContainerConfig__Output): string | null {
    const options = config.linux?.securityContext?.namespaceOptions;
    if (options?.pid !== 'TARGET') return null;
    const target = this.require(options.targetId);
    if (target.state !== 'CONTAINER_RUNNING') throw new FailedPreconditionError(`target container ${target.id} is not running`);
    return `/proc/${target.pid}/ns/pid`;
  }

  async start(id: string): Promise<void> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_CREATED') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}; only a created container can start`);
    }
    if (container.restoreImages !== undefined) {
      await this.restoreCheckpoint(container, container.restoreImages);
      return;
    }
    const steps = stepTimes(this.deps.log, 'StartContainer steps');
    const sandbox = this.deps.sandboxes.get(container.sandboxId);
    // Before the process runs, so a plugin hears of the start before an exit however fast it comes.
    if (sandbox && !container.infra) await steps.time('nri', () => this.deps.nri.startContainer(sandbox, container));
    await steps.time('record', () => this.deps.records.save({ ...container, startingAt: unixNanos() }));
    try {
      await steps.time('runtime start', () => this.deps.runtimes(container.runtimeHandler).start(container.id));
    } catch (error) {
      await this.exits.recordExit(container.id, error instanceof RuntimeCommandError ? error.stderr : String(error));
      throw error;
    }
    const running: ContainerRecord = { ...this.require(id), state: 'CONTAINER_RUNNING', startedAt: unixNanos() };
    await steps.time('record', () => this.deps.records.save(running));
    this.deps.events.publish('CONTAINER_STARTED_EVENT', running.id, running.sandboxId);
    this.exits.follow(running);
    steps.done({ podSandboxId: running.sandboxId, containerId: running.id });
  }

  /**
   * The start of a container made from a checkpoint: its monitor runs the runtime's restore, after which the
   * process runs on from where it was checkpointed. CRIU's images are not needed after that.
   */
  private async restoreCheckpoint(container: ContainerRecord, images: string): Promise<void> {
    const runtimeDir = path.join(this.deps.runtimeDir, container.id);
    const runtime = this.deps.runtimes(container.runtimeHandler);
    // Saved first, as for a plain start: a daemon that dies during the restore finds the container restored (container-restore.ts).
    const startingAt = unixNanos();
    await this.deps.records.save({ ...container, startingAt });
    let started: { pid: number; monitorPid: number };
    try {
      const spec = await readBundleSpec(runtimeDir);
      if (spec === null) throw new FailedPreconditionError(`container ${container.id} has no bundle to restore into`);
      const criu = await this.deps.criu.require();
      started = await launchContainerMonitor(this.deps, {
        containerId: container.id,
        spec,
        runtimeHandler: container.runtimeHandler,
        logFile: await makeLogDirectory(runtimeDir, container.logPath),
        stdin: container.config.stdin,
        restore: { images, criu },
      });
    } catch (error) {
      // A restore that failed part way may have left the runtime a container.
      await runtime.delete(container.id);
      await this.recordUnrestored(container, error instanceof Error ? error.message : String(error));
      throw error;
    }
    const { restoreImages: _restored, ...rest } = container;
    const running: ContainerRecord = { ...rest, ...started, state: 'CONTAINER_RUNNING', startedAt: startingAt, startingAt };
    await this.deps.records.save(running);
    this.deps.events.publish('CONTAINER_STARTED_EVENT', running.id, running.sandboxId);
    this.exits.follow(running);
    await rm(path.dirname(images), { recursive: true, force: true });
  }

  /** A container made from a checkpoint that never ran has no monitor to record its exit. */
  private async recordUnrestored(container: ContainerRecord, message: string): Promise<void> {
    const { restoreImages: _unused, ...rest } = container;
    await this.deps.records.save({ ...rest, state: 'CONTAINER_EXITED', finishedAt: unixNanos(), exitCode: 128, reason: 'StartError', message });
    this.deps.events.publish('CONTAINER_STOPPED_EVENT', container.id, container.sandboxId);
    await rm(path.join(this.deps.records.dirOf(container.id), 'restore'), { recursive: true, force: true });
  }

  /**
   * CheckpointContainer: the running container keeps running; the archive at `location` holds its processes, spec
   * and writable layer. `timeoutSeconds` 0 leaves the time to the caller's deadline.
   */
  async checkpoint(id: string, location: string, timeoutSeconds: number): Promise<void> {
    await checkLocation(location, 'location');
    const container = this.requireRunning(id);
    const criu = await this.deps.criu.require();
    const spec = await this.specOf(container.id);
    if (spec === null) throw new FailedPreconditionError(`container ${container.id} has no bundle`);
    await checkpointContainer({
      container,
      runtime: this.deps.runtimes(container.runtimeHandler),
      criu,
      spec,
      upperDir: this.writableLayerOf(container.id),
      location,
      deadline: timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : null,
    });
    this.deps.log.info({ containerId: container.id, location }, 'container checkpointed');
  }

  /**
   * The stop signal, then SIGKILL after `timeoutSeconds`. Stopping a
   * stopped or missing container succeeds, as CRI requires.
   */
  async stop(id: string, timeoutSeconds: number): Promise<void> {
    const container = this.find(id);
    if (!container || container.state === 'CONTAINER_EXITED') return;
    if (container.restoreImages !== undefined) {
      await this.recordUnrestored(container, 'stopped before StartContainer restored it from its checkpoint');
      return;
    }
    const runtime = this.deps.runtimes(container.runtimeHandler);
    if (container.state === 'CONTAINER_CREATED') {
      // Never started: nothing to wait for; the monitor records the exit when the runtime removes the init.
      await runtime.delete(container.id);
      await this.exitWithin(container, UNSTARTED_EXIT_WAIT_MS);
      return;
    }
    if (timeoutSeconds > 0) {
      await this.sendStopSignal(container, runtime);
      if (await this.exits.waitExit(container, timeoutSeconds * 1000)) return;
    }
    await runtime.kill(container.id, 'KILL');
    await this.exitWithin(container, KILLED_EXIT_WAIT_MS);
  }

  /**
   * Through the monitor, the container's parent, which knows that the process is still the container's: `runc kill`
   * is a fork and exec of the runtime (~7-10 ms here) that ends in the same kill(2). The runtime still sends a
   * signal without a number, and any when the monitor cannot (one from before the `signal` command, or gone).
   */
  private async sendStopSignal(container: ContainerRecord, runtime: ContainerRuntime): Promise<void> {
    const signal = signalNumber(container.stopSignal);
    if (signal !== null) {
      try {
        await this.deps.containerHost.signal(path.join(this.deps.runtimeDir, container.id), signal);
        return;
      } catch (error) {
        this.deps.log.debug({ err: error, containerId: container.id }, 'the monitor did not send the stop signal; the runtime sends it');
      }
    }
    await runtime.kill(container.id, container.stopSignal);
  }

  /** After a delete or SIGKILL the exit must come: a container that outlives it is reported, not taken for stopped. */
  private async exitWithin(container: ContainerRecord, timeoutMs: number): Promise<void> {
    if (await this.exits.waitExit(container, timeoutMs)) return;
    throw new FailedPreconditionError(`container ${container.id} has not exited ${timeoutMs / 1000} s after it was killed`);
  }

  /** Removing a missing container succeeds; a running one is killed first. */
  async remove(id: string): Promise<void> {
    const container = this.find(id);
    if (!container) return;
    await this.stop(container.id, 0);
    await this.deps.runtimes(container.runtimeHandler).delete(container.id);
    await removeRuntimeDir(this.deps.containerHost, path.join(this.deps.runtimeDir, container.id));
    await this.deps.records.remove(container.id);
    if (!container.infra) this.deps.events.publish('CONTAINER_DELETED_EVENT', container.id, container.sandboxId, undefined, container);
    const sandbox = this.deps.sandboxes.get(container.sandboxId);
    if (!container.infra && sandbox) await this.deps.nri.removeContainer(sandbox, container);
    this.exits.forget(container.id);
    await this.layerHolds.get(container.id)?.();
    this.layerHolds.delete(container.id);
  }

  /** UpdateContainerResources: the new limits go to the cgroup through the OCI runtime, then into the bundle's spec and the record. */
  async updateResources(id: string, resources: LinuxContainerResources__Output | null): Promise<void> {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_RUNNING' && container.state !== 'CONTAINER_CREATED') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}; only a live container takes new limits`);
    }
    const limits = containerLimits(resources, this.deps.host);
    this.logDroppedLimits(container.id, limits);
    if (container.state === 'CONTAINER_RUNNING' && limits.memory?.limit !== undefined) await this.checkShrink(container.id, limits.memory.limit);
    await applyLimits(this.deps.runtimes(container.runtimeHandler), container.id, path.join(this.deps.runtimeDir, container.id), limits);
    const linux = { ...(container.config.linux ?? { securityContext: null }), resources };
    await this.deps.records.save({ ...container, config: { ...container.config, linux } });
  }

  /**
   * A memory limit below what the container holds is refused before the runtime sees it: cgroup v1 fails the
   * write with EBUSY, but cgroup v2 takes it and has the OOM killer enforce it. The kubelet judges a shrink by
   * the same working set before it asks.
   */
  private async checkShrink(containerId: string, memoryLimit: number): Promise<void> {
    const inUse = await this.deps.memoryInUse(containerId);
    if (inUse !== null && BigInt(memoryLimit) < inUse) {
      throw new FailedPreconditionError(
        `linux.resources.memory_limit_in_bytes ${memoryLimit} is below the ${inUse} bytes container ${containerId} is using; ` +
          'the kernel could only enforce it by killing the container',
      );
    }
  }

  private logDroppedLimits(containerId: string, limits: ContainerLimits): void {
    if (limits.dropped.length > 0) this.deps.log.debug({ containerId, dropped: limits.dropped }, 'limits this node cannot apply were left out');
  }

  /** Freezes a running container's processes; its record stays RUNNING, as a pause is never left in place. */
  async pause(id: string): Promise<void> {
    const container = this.requireRunning(id);
    await this.deps.runtimes(container.runtimeHandler).pause(container.id);
  }

  async resume(id: string): Promise<void> {
    const container = this.require(id);
    await this.deps.runtimes(container.runtimeHandler).resume(container.id);
  }

  async reopenLog(id: string): Promise<void> {
    const container = this.requireRunning(id);
    await this.deps.containerHost.reopenLog(path.join(this.deps.runtimeDir, container.id));
  }

  /** Runs `command` in the container through the OCI runtime; DEADLINE_EXCEEDED when `timeoutSeconds` passes. */
  async execSync(id: string, command: readonly string[], timeoutSeconds: number): Promise<ExecResult> {
    const container = this.requireRunning(id);
    if (command.length === 0) throw new InvalidArgumentError('ExecSync needs a command');
    const runtime = this.deps.runtimes(container.runtimeHandler);
    return execSync(runtime, this.deps.containerHost, container.id, command, timeoutSeconds, path.join(this.deps.runtimeDir, container.id));
  }

  /** Exec: `command` started in the container with its stdio live, for the streaming server to join to its client. */
  async startExec(id: string, command: readonly string[], options: ExecSessionOptions): Promise<ExecSession> {
    const container = this.requireRunning(id);
    const runtime = this.deps.runtimes(container.runtimeHandler);
    return startExecSession(runtime, this.deps.containerHost, container.id, command, options, path.join(this.deps.runtimeDir, container.id));
  }

  /**
   * Attach: the stdio of the container's main process, through its monitor. `stdinOnce` is the container's
   * `stdin_once`: the end of the first attached stdin then closes the container's stdin.
   */
  async attach(id: string): Promise<{ attachment: MonitorAttachment; stdinOnce: boolean }> {
    const container = this.requireRunning(id);
    const attachment = await this.deps.containerHost.attach(path.join(this.deps.runtimeDir, container.id));
    return { attachment, stdinOnce: container.config.stdinOnce };
  }

  requireRunning(id: string): ContainerRecord {
    const container = this.require(id);
    if (container.state !== 'CONTAINER_RUNNING') {
      throw new FailedPreconditionError(`container ${container.id} is ${stateWord(container.state)}, not running`);
    }
    return container;
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

  /** The directory of its OCI bundle, rootfs mount point and monitor state. */
  bundleOf(id: string): string {
    return path.join(this.deps.runtimeDir, id);
  }

  /** The OCI spec the container runs with (patched by resource updates); null once its bundle is gone. */
  specOf(id: string): Promise<OciSpec | null> {
    return readBundleSpec(this.bundleOf(id));
  }

  /**
   * The linux.cgroupsPath the container was created with, from its bundle:
   * the one source that stays right for infra containers (named after
   * their pod) and across a change of cgroup driver. null once the bundle
   * is gone.
   */
  async cgroupsPathOf(id: string): Promise<string | null> {
    return (await this.specOf(id))?.linux?.cgroupsPath ?? null;
  }

  /** IDs of the containers, infra ones too, whose rootfs or image volumes come from the image. */
  containersUsing(imageId: string): string[] {
    return this.deps.records
      .list()
      .filter((container) => container.imageId === imageId || (container.imageVolumes ?? []).some((volume) => volume.imageId === imageId))
      .map((container) => container.id);
  }

  list(filter: ContainerFilter | null): ContainerRecord[] {
    return this.deps.records.list().filter((container) => !container.infra && matchesFilter(container, filter));
  }

  /** The pod's app containers. */
  listOf(sandboxId: string): ContainerRecord[] {
    return this.list({ id: null, sandboxId, state: null, labels: {} });
  }

  async stopAllOf(sandboxId: string, timeoutSeconds: number): Promise<void> {
    await this.creates.settle(sandboxId);
    await Promise.all(this.list({ id: null, sandboxId, state: null, labels: {} }).map((container) => this.stop(container.id, timeoutSeconds)));
  }

  /** Also refuses new creates in the pod from now on: the caller is removing it. */
  async removeAllOf(sandboxId: string): Promise<void> {
    this.creates.beginRemoval(sandboxId, (id) => this.deps.sandboxes.get(id) !== undefined);
    await this.creates.settle(sandboxId);
    await Promise.all(this.list({ id: null, sandboxId, state: null, labels: {} }).map((container) => this.remove(container.id)));
  }
}
