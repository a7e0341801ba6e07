import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../errors.js';
import type { LifecycleEvents } from '../events/container-events.js';
import type { InfraContainerKind } from '../config/index.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import { CleanupStack } from '../lifecycle/cleanup-stack.js';
import { NameReservations, recordMarks } from '../lifecycle/name-reservations.js';
import type { Logger } from '../log/logger.js';
import { stepTimes, type StepTimes } from '../log/step-times.js';
import type { NriHooks } from '../nri/nri-hooks.js';
import type { PodNetworkRequest, PortMapping } from '../network/pod-networks.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { checkPodConfig } from './pod-config-checks.js';
import { writePodFiles, type DnsSettings, type PodFiles } from './pod-files.js';
import { pidNamespacePin, type PodInitProcess, type PodInits } from './pod-init.js';

/**
 * Pod sandboxes: the namespaces, files and cgroup parent that a pod's
 * containers share. A pod's network, IPC and UTS namespaces are pinned to
 * files by native code, so no process has to hold them; containers join
 * them by path. Records live under root/pods/<id>, runtime files (namespace
 * pins, /etc files, /dev/shm) under state/pods/<id>.
 */

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface SandboxMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

export interface SandboxRequest {
  readonly metadata: SandboxMetadata;
  readonly hostname: string;
  readonly logDirectory: string;
  readonly dns: DnsSettings | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly cgroupParent: string;
  readonly sysctls: Readonly<Record<string, string>>;
  readonly network: NamespaceMode;
  readonly pid: NamespaceMode;
  readonly ipc: NamespaceMode;
  readonly runtimeHandler: string;
  /** Host ports to forward into the pod; only those with a host port. */
  readonly portMappings: readonly PortMapping[];
  /** Everything else the containers need from PodSandboxConfig, kept verbatim. */
  readonly config: unknown;
}

export interface PinnedNamespaces {
  readonly net: string | null;
  readonly ipc: string | null;
  readonly uts: string | null;
}

export interface SandboxRecord extends SandboxRequest {
  readonly id: string;
  readonly state: SandboxState;
  /** Nanoseconds since the epoch, as CRI reports it. */
  readonly createdAt: string;
  readonly namespaces: PinnedNamespaces;
  readonly files: PodFiles;
  /** The pod's /dev/shm, or null when it shares the host's IPC namespace. */
  readonly shm: string | null;
  /** The pause container that holds a PID namespace shared by the pod; null otherwise. */
  readonly infraContainerId: string | null;
  /** crion's pod init, when it holds the pod's shared PID namespace instead of a pause container. */
  readonly podInit?: PodInitProcess;
  /** From the CNI ADD result, the pod's primary IP first; empty for host-network pods. */
  readonly ips: readonly string[];
  /** Made for a RunPodSandbox whose caller gave up: the kubelet's retry with the same name gets this pod. */
  readonly unclaimed?: boolean;
  /**
   * Saved before the CNI ADD and the infra container, which need the record; cleared once the pod is whole.
   * A record still marked at start is of a RunPodSandbox the daemon died in, and is undone.
   */
  readonly incomplete?: boolean;
}

/** What starts and ends pod inits (src/sandbox/pod-init.ts); a fake in unit tests. */
export type PodInitHost = Pick<PodInits, 'start' | 'follow' | 'stop' | 'stopUnrecorded' | 'remove'>;

/** The container side of a pod whose PID namespace is shared: its infra (pause) container. */
export interface InfraContainers {
  start(sandbox: SandboxRecord): Promise<{ containerId: string }>;
  stop(containerId: string): Promise<void>;
  remove(containerId: string): Promise<void>;
}

/** The pod's own containers, which go before its namespaces and network do. */
export interface AppContainers {
  stopAllOf(sandboxId: string): Promise<void>;
  removeAllOf(sandboxId: string): Promise<void>;
}

/** The host operations a sandbox needs; native in the daemon, fakes in unit tests. */
export interface SandboxHost {
  createNamespaces(request: {
    dir: string;
    net: boolean;
    ipc: boolean;
    uts: boolean;
    hostname: string | null;
    sysctls: Readonly<Record<string, string>>;
  }): Promise<PinnedNamespaces>;
  removeNamespaces(dir: string): Promise<void>;
  mountShm(target: string, sizeBytes: number): Promise<void>;
  unmount(target: string): Promise<void>;
}

/** The pod's CNI network; the daemon passes src/network's PodNetworks, unit tests a fake. */
export interface SandboxNetwork {
  attach(request: PodNetworkRequest): Promise<string[]>;
  /** Idempotent: undoes the attachment cached in `cacheFile`, if any. */
  detach(cacheFile: string): Promise<void>;
  /** After a daemon restart: takes up the attachment cached in `cacheFile` again (host ports, CHECK). */
  resume(cacheFile: string): Promise<void>;
}

export interface SandboxManagerDeps {
  readonly records: RecordStore<SandboxRecord>;
  /** state/pods: runtime files, gone after a reboot. */
  readonly runtimeDir: string;
  readonly host: SandboxHost;
  readonly infra: InfraContainers;
  /** Pod inits, which hold shared PID namespaces in place of pause containers; kept whatever new pods get. */
  readonly podInits: PodInitHost;
  /** What a new pod's shared PID namespace gets (runtime.infra_container, and pause under the systemd driver). */
  readonly pidHolder: InfraContainerKind;
  readonly containers: AppContainers;
  readonly network: SandboxNetwork;
  /** Why pods cannot run with this RuntimeClass handler here (not configured, runtime not installed), or null. */
  readonly handlerProblem: (name: string) => string | null;
  readonly defaultHandler: () => string;
  /** Throws InvalidArgumentError for pod values only the containers' OCI specs use (sysctls, cgroup parent). */
  readonly checkSpecValues: (request: SandboxRequest) => void;
  /** Throws InvalidArgumentError for limits no container could be given either. */
  readonly checkResources: (resources: LinuxContainerResources__Output) => void;
  /** Told of the pod's own transitions, under the sandbox's ID, once they are recorded (GetContainerEvents). */
  readonly events: LifecycleEvents;
  /** NRI plugins, told of each pod's run, stop and removal; NO_NRI when NRI is off. */
  readonly nri: NriHooks;
  readonly log: Logger;
}

/** A pod's resources as the kubelet sizes it (KEP-1287): the sum of its containers', and the RuntimeClass overhead. */
export interface PodResources {
  readonly overhead: LinuxContainerResources__Output | null;
  readonly resources: LinuxContainerResources__Output | null;
}

/** 64 MiB, Docker's and containerd's default for a pod's /dev/shm. */
const SHM_BYTES = 64 * 1024 * 1024;

export interface SandboxFilter {
  readonly id: string | null;
  readonly state: SandboxState | null;
  readonly labels: Readonly<Record<string, string>>;
}

export class SandboxManager {
  private readonly names: NameReservations<SandboxRecord>;

  constructor(private readonly deps: SandboxManagerDeps) {
    this.names = new NameReservations(recordMarks(deps.records));
  }

  /** `signal` is the caller's: a run it gives up on still finishes, for the kubelet's retry to collect. */
  async run(request: SandboxRequest, signal?: AbortSignal): Promise<SandboxRecord> {
    await checkPodConfig(request);
    this.deps.checkSpecValues(request);
    const handler = request.runtimeHandler === '' ? this.deps.defaultHandler() : request.runtimeHandler;
    const problem = this.deps.handlerProblem(handler);
    if (problem !== null) throw new NotFoundError(problem);
    const name = reservedName(request.metadata);
    const steps = stepTimes(this.deps.log, 'RunPodSandbox steps');
    const sandbox = await this.names.create({
      name,
      signal,
      existing: () => this.deps.records.list().find((sandbox) => reservedName(sandbox.metadata) === name),
      describe: (sandbox) => `pod sandbox ${sandbox.id}`,
      make: (callerGaveUp) =>
        CleanupStack.run(this.deps.log, (cleanup) => this.create({ ...request, runtimeHandler: handler }, cleanup, callerGaveUp, steps)),
    });
    steps.done({ podSandboxId: sandbox.id });
    return sandbox;
  }

  private async create(request: SandboxRequest, cleanup: CleanupStack, callerGaveUp: () => boolean, steps: StepTimes): Promise<SandboxRecord> {
    const id = randomBytes(32).toString('hex');
    const runtimeDir = path.join(this.deps.runtimeDir, id);
    const hostNetwork = request.network === 'NODE';
    const hostIpc = request.ipc === 'NODE';
    const namespaceDir = path.join(runtimeDir, 'ns');
    await steps.time('directories', async () => {
      await mkdir(runtimeDir, { recursive: true, mode: 0o711 });
      cleanup.push('remove the pod runtime directory', () => rm(runtimeDir, { recursive: true, force: true }));
      await mkdir(namespaceDir, { mode: 0o711 });
    });
    const namespaces = await steps.time('namespace pins', () =>
      this.deps.host.createNamespaces({
        dir: namespaceDir,
        net: !hostNetwork,
        ipc: !hostIpc,
        uts: !hostNetwork,
        // Without a hostname the new UTS namespace keeps the one it was copied from, the host's.
        hostname: hostNetwork || request.hostname === '' ? null : request.hostname,
        sysctls: request.sysctls,
      }),
    );
    cleanup.push('release the pod namespaces', () => this.deps.host.removeNamespaces(namespaceDir));

    let shm: string | null = null;
    if (!hostIpc) {
      const mounted = path.join(runtimeDir, 'shm');
      await steps.time('shm', async () => {
        await mkdir(mounted, { mode: 0o755 });
        await this.deps.host.mountShm(mounted, SHM_BYTES);
      });
      shm = mounted;
      cleanup.push('unmount the pod /dev/shm', () => this.deps.host.unmount(mounted));
    }

    const files = await steps.time('pod files', () => writePodFiles(runtimeDir, request.hostname, request.dns));
    const record: SandboxRecord = {
      ...request,
      id,
      state: 'SANDBOX_NOTREADY',
      incomplete: true,
      createdAt: unixNanos(),
      namespaces,
      files,
      shm,
      infraContainerId: null,
      ips: [],
    };
    await steps.time('record', () => this.deps.records.save(record));
    cleanup.push('remove the sandbox record', () => this.deps.records.remove(id));

    // The CNI ADD and the PID namespace's holder need the pinned namespaces, not each other: run side by side,
    // they cost the longer of the two instead of the sum. Both settle before a failure unwinds.
    const [attached, holder] = await Promise.allSettled([
      steps.time('CNI ADD', () => this.attachNetwork(id, request, namespaces.net, runtimeDir, cleanup)),
      request.pid === 'POD' ? this.startPidHolder(record, namespaceDir, cleanup, steps) : Promise.resolve({}),
    ]);
    if (attached.status === 'rejected') throw attached.reason;
    if (holder.status === 'rejected') throw holder.reason;
    const { incomplete: _saved, ...whole } = record;
    const ready: SandboxRecord = {
      ...whole,
      state: 'SANDBOX_READY',
      ips: attached.value,
      ...holder.value,
      ...(callerGaveUp() ? { unclaimed: true } : {}),
    };
    // The plugins see the whole pod before anyone else: it is recorded ready (and listed) only once they accept it.
    await steps.time('nri + record', () => this.deps.nri.runPodSandbox(ready, () => this.deps.records.save(ready)));
    // Only a whole pod is announced: a create that fails part way was never there for the kubelet.
    this.deps.events.publish('CONTAINER_CREATED_EVENT', id, id);
    this.deps.events.publish('CONTAINER_STARTED_EVENT', id, id);
    this.followPodInit(ready);
    return ready;
  }

  /** The pod init, or a pause container where runtime.infra_container says so; each undone on a later failure. */
  private async startPidHolder(
    record: SandboxRecord,
    namespaceDir: string,
    cleanup: CleanupStack,
    steps: StepTimes,
  ): Promise<{ podInit?: PodInitProcess; infraContainerId?: string }> {
    const podInits = this.deps.podInits;
    if (this.deps.pidHolder === 'pod-init') {
      // Its pin goes with the namespace pins (pushed earlier, so undone later); the init and its cgroups go first.
      const podInit = await steps.time('pod init', () => podInits.start(record, pidNamespacePin(namespaceDir)));
      cleanup.push('end the pod init', async () => {
        await podInits.stop(record, podInit);
        await podInits.remove(record);
      });
      return { podInit };
    }
    const { containerId } = await steps.time('infra container', () => this.deps.infra.start(record));
    cleanup.push('remove the infra container', () => this.deps.infra.remove(containerId));
    return { infraContainerId: containerId };
  }

  /** A ready pod's init, from its start or the daemon's: its exit makes the pod NOTREADY. */
  private followPodInit(sandbox: SandboxRecord): void {
    const init = sandbox.podInit;
    if (init === undefined) return;
    this.deps.podInits.follow(sandbox, init, () => void this.pidHolderExited(sandbox.id, { podInitPid: init.pid }));
  }

  /** The pod's IPs from the CNI ADD; none without a network namespace of its own. */
  private async attachNetwork(
    id: string,
    request: SandboxRequest,
    netns: string | null,
    runtimeDir: string,
    cleanup: CleanupStack,
  ): Promise<string[]> {
    if (netns === null) return [];
    const cacheFile = networkCache(runtimeDir);
    // Pushed before the ADD so a later failed step runs DEL from the cache; a failed ADD is torn down by attach itself.
    cleanup.push('detach the pod network', () => this.deps.network.detach(cacheFile));
    return this.deps.network.attach({
      sandboxId: id,
      name: request.metadata.name,
      namespace: request.metadata.namespace,
      uid: request.metadata.uid,
      netns,
      portMappings: request.portMappings,
      dns: request.dns,
      annotations: request.annotations,
      cacheFile,
    });
  }

  /**
   * Releases the pod's namespaces and shm; stopping a stopped or missing
   * sandbox succeeds, as CRI requires (the kubelet retries stops freely).
   * Containers are stopped by the caller first.
   */
  /** The pod's containers first, then its network and namespaces. Idempotent: the kubelet stops a pod as often as it likes. */
  async stop(id: string): Promise<void> {
    const sandbox = this.deps.records.get(id);
    if (!sandbox) return;
    await this.deps.containers.stopAllOf(id);
    // After its containers, while the pod is still whole (containerd's order); once per pod.
    await this.deps.nri.stopPodSandbox(sandbox);
    try {
      await this.detachNetwork(sandbox);
    } catch (error) {
      // The cache stays, so the next stop or the remove retries DEL; the pod still stops.
      this.deps.log.error({ err: error, podSandboxId: id }, 'CNI DEL failed; it is retried on the next stop or remove');
    }
    await this.releaseRuntime(sandbox);
    // A pod already NOTREADY (its infra container exited) was announced stopped then.
    if (sandbox.state !== 'SANDBOX_NOTREADY') {
      await this.deps.records.save({ ...sandbox, state: 'SANDBOX_NOTREADY' });
      this.deps.events.publish('CONTAINER_STOPPED_EVENT', id, id);
    }
  }

  /**
   * A pod whose infra container has exited, under the daemon or while it was
   * down, holds no namespaces a new container could join: NOTREADY tells the
   * kubelet to stop it and make the pod again.
   */
  async infraExited(id: string, infraContainerId: string): Promise<void> {
    if (this.deps.records.get(id)?.infraContainerId !== infraContainerId) return;
    await this.pidHolderExited(id, { infraContainerId });
  }

  private async pidHolderExited(id: string, holder: { infraContainerId: string } | { podInitPid: number }): Promise<void> {
    const sandbox = this.deps.records.get(id);
    if (sandbox?.state !== 'SANDBOX_READY') return;
    await this.deps.records.save({ ...sandbox, state: 'SANDBOX_NOTREADY' });
    this.deps.events.publish('CONTAINER_STOPPED_EVENT', id, id);
    const what = 'infraContainerId' in holder ? 'infra container' : 'pod init';
    this.deps.log.warn({ podSandboxId: id, ...holder }, `the ${what} exited: the pod is not ready`);
  }

  /** Removing a missing sandbox succeeds, as CRI requires. */
  /** Stopped first if it runs, then its containers, then the pod. Removing a missing pod succeeds. */
  async remove(id: string): Promise<void> {
    const sandbox = this.deps.records.get(id);
    if (!sandbox) return;
    await this.deps.containers.stopAllOf(id);
    await this.deps.containers.removeAllOf(id);
    // A DEL that still fails keeps the record, so the kubelet's retry of the remove retries it: no IP leaks silently.
    await this.detachNetwork(sandbox);
    await this.releaseRuntime(sandbox);
    if (sandbox.infraContainerId !== null) await this.deps.infra.remove(sandbox.infraContainerId);
    if (sandbox.podInit !== undefined) await this.deps.podInits.remove(sandbox);
    await rm(path.join(this.deps.runtimeDir, id), { recursive: true, force: true });
    const last = this.deps.records.get(id) ?? sandbox;
    await this.deps.records.remove(id);
    await this.deps.nri.removePodSandbox(last);
    // Removed without a stop first, its record still says READY; what is gone is not ready.
    this.deps.events.publish('CONTAINER_DELETED_EVENT', id, id, { ...last, state: 'SANDBOX_NOTREADY' });
  }

  /**
   * At daemon start, before the server: undoes what a RunPodSandbox the
   * daemon died in left, as a failed create would have: a runtime directory
   * without a record (namespace pins, a shm mount and, once the network
   * was being attached, its cached CNI attachment, whose DEL releases the
   * lease) and a record still marked incomplete. Its infra container, which
   * the record never named, ContainerManager.restore has removed already.
   * A step that fails keeps what is left, so the next start retries it.
   */
  async removeOrphans(): Promise<void> {
    for (const id of await readdir(this.deps.runtimeDir)) {
      if (this.deps.records.get(id)) continue;
      await this.undoInterruptedCreate(id);
    }
    for (const sandbox of this.deps.records.list()) {
      if (sandbox.incomplete === true) await this.undoInterruptedCreate(sandbox.id);
    }
  }

  private async undoInterruptedCreate(id: string): Promise<void> {
    const runtimeDir = path.join(this.deps.runtimeDir, id);
    // Its record was saved before the pod init started, so a runtime directory without one has none.
    const record = this.deps.records.get(id);
    try {
      if (record !== undefined) {
        await this.deps.podInits.stopUnrecorded(record, pidNamespacePin(path.join(runtimeDir, 'ns')));
        await this.deps.podInits.remove(record);
      }
      await this.deps.network.detach(networkCache(runtimeDir));
      await this.deps.host.unmount(path.join(runtimeDir, 'shm'));
      await this.deps.host.removeNamespaces(path.join(runtimeDir, 'ns'));
      await rm(runtimeDir, { recursive: true, force: true });
      if (record !== undefined) await this.deps.records.remove(id);
      this.deps.log.info({ podSandboxId: id }, 'removed what a pod sandbox the daemon died creating left behind');
    } catch (error) {
      this.deps.log.error(
        { err: error, podSandboxId: id },
        'cannot remove what a pod sandbox the daemon died creating left behind; retried at the next start',
      );
    }
  }

  /** At daemon start: the networks of pods that are still up are taken up again, and their inits followed. */
  async resumePods(): Promise<void> {
    for (const sandbox of this.deps.records.list()) {
      if (sandbox.state !== 'SANDBOX_READY') continue;
      await this.deps.network.resume(networkCache(path.join(this.deps.runtimeDir, sandbox.id)));
      this.followPodInit(sandbox);
    }
  }

  /** Before the namespace pin goes: plugins need the namespace to remove the pod's interface. */
  private detachNetwork(sandbox: SandboxRecord): Promise<void> {
    return this.deps.network.detach(networkCache(path.join(this.deps.runtimeDir, sandbox.id)));
  }

  private async releaseRuntime(sandbox: SandboxRecord): Promise<void> {
    if (sandbox.infraContainerId !== null) await this.deps.infra.stop(sandbox.infraContainerId);
    if (sandbox.podInit !== undefined) await this.deps.podInits.stop(sandbox, sandbox.podInit);
    const runtimeDir = path.join(this.deps.runtimeDir, sandbox.id);
    if (sandbox.shm !== null) await this.deps.host.unmount(sandbox.shm);
    await this.deps.host.removeNamespaces(path.join(runtimeDir, 'ns'));
  }

  /**
   * UpdatePodSandboxResources: the kubelet has already resized the pod's cgroup, which is its own (crion makes
   * none per pod), so the new figures are checked and recorded in the pod's config, where RunPodSandbox put the
   * first ones; the verbose status shows them. A field the request leaves out keeps its value.
   */
  async updateResources(id: string, update: PodResources): Promise<void> {
    const sandbox = this.require(id);
    if (update.overhead !== null) this.deps.checkResources(update.overhead);
    if (update.resources !== null) this.deps.checkResources(update.resources);
    const config = (sandbox.config ?? {}) as { linux?: Record<string, unknown> | null };
    const linux = {
      ...config.linux,
      ...(update.overhead === null ? {} : { overhead: update.overhead }),
      ...(update.resources === null ? {} : { resources: update.resources }),
    };
    await this.deps.records.save({ ...sandbox, config: { ...config, linux } });
  }

  get(id: string): SandboxRecord | undefined {
    return this.deps.records.get(id);
  }

  require(id: string): SandboxRecord {
    const sandbox = this.find(id);
    if (!sandbox) throw new NotFoundError(`pod sandbox "${id}" not found`);
    return sandbox;
  }

  /** By full ID or a unique prefix, as crictl users type them. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    return this.deps.records.find(idOrPrefix);
  }

  /** A pod still being made (its NRI plugins still deciding on it) is not there yet. */
  list(filter: SandboxFilter | null): SandboxRecord[] {
    return this.deps.records
      .list()
      .filter(
        (sandbox) =>
          sandbox.incomplete !== true &&
          (filter === null ||
            ((filter.id === null || sandbox.id.startsWith(filter.id)) &&
              (filter.state === null || sandbox.state === filter.state) &&
              Object.entries(filter.labels).every(([key, value]) => sandbox.labels[key] === value))),
      );
  }
}

function networkCache(runtimeDir: string): string {
  return path.join(runtimeDir, 'network.json');
}

/** The kubelet's own uniqueness key for a pod, as containerd and CRI-O reserve it. */
function reservedName(metadata: SandboxMetadata): string {
  return `${metadata.name}_${metadata.namespace}_${metadata.uid}_${metadata.attempt}`;
}
