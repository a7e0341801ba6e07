import type { ContainerRecord } from '../container/container-manager.js';
import { NotFoundError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { guardedRead } from './guarded-read.js';
import { cgroupDirOf, podCgroupDir } from '../oci/index.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import { readCgroupUsage, type CgroupHierarchies, type CgroupUsage } from './cgroup-usage.js';
import { CpuRates } from './cpu-rate.js';
import { readNetworkUsage, type InterfaceUsage } from './network-usage.js';
import type { MeasuredUsage, WritableLayerUsage } from './writable-layer-usage.js';

/**
 * Container and pod stats as the CRI stats calls report them: CPU, memory
 * and process count from cgroups, the writable layer's disk use, and a
 * pod's network counters. Only running containers and ready pods have
 * cgroup figures; the others are listed with their attributes and disk use
 * alone, as containerd does (crictl hides rows whose CPU and memory are
 * zero, and the kubelet drops terminated containers and pods itself).
 */

export interface CpuStats {
  readonly usageCoreNanoSeconds: bigint;
  /** null on the first sample of a container or pod: a rate needs two. */
  readonly usageNanoCores: bigint | null;
}

export interface MemoryStats {
  readonly workingSetBytes: bigint;
  readonly usageBytes: bigint;
  readonly rssBytes: bigint | null;
  readonly pageFaults: bigint | null;
  readonly majorPageFaults: bigint | null;
  /** Limit minus working set; null without a limit. */
  readonly availableBytes: bigint | null;
}

export interface FilesystemStats extends MeasuredUsage {
  /** The filesystem the layer is on, named as ImageFsInfo names it. */
  readonly mountpoint: string;
}

export interface ContainerStats {
  readonly container: ContainerRecord;
  readonly timestamp: Date;
  readonly cpu: CpuStats | null;
  readonly memory: MemoryStats | null;
  readonly writableLayer: FilesystemStats | null;
}

export interface NetworkStats {
  /** eth0, the interface the kubelet treats as the pod's, when the pod has it. */
  readonly defaultInterface: InterfaceUsage | null;
  readonly interfaces: readonly InterfaceUsage[];
}

export interface PodStats {
  readonly sandbox: SandboxRecord;
  readonly timestamp: Date;
  readonly cpu: CpuStats | null;
  readonly memory: MemoryStats | null;
  /** null for host-network pods (the counters would be the node's) and when no process of the pod runs. */
  readonly network: NetworkStats | null;
  readonly processCount: bigint | null;
  readonly containers: readonly ContainerStats[];
}

export interface ContainerStatsFilter {
  readonly id: string | null;
  readonly sandboxId: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PodStatsFilter {
  readonly id: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

/** The parts of the container manager stats read. */
export interface StatsContainers {
  list(filter: { id: string | null; sandboxId: string | null; state: null; labels: Readonly<Record<string, string>> } | null): ContainerRecord[];
  find(idOrPrefix: string): ContainerRecord | undefined;
  writableLayerOf(id: string): string;
  cgroupsPathOf(id: string): Promise<string | null>;
}

/** The parts of the sandbox manager stats read. */
export interface StatsSandboxes {
  list(filter: { id: string | null; state: null; labels: Readonly<Record<string, string>> } | null): SandboxRecord[];
  find(idOrPrefix: string): SandboxRecord | undefined;
}

export interface StatsCollectorDeps {
  readonly containers: StatsContainers;
  readonly sandboxes: StatsSandboxes;
  readonly hierarchies: CgroupHierarchies;
  readonly cgroupDriver: CgroupDriver;
  readonly writableLayers: WritableLayerUsage;
  /** Where writable layers live, as ImageFsInfo reports the image filesystem: the kubelet matches the two. */
  readonly layerFilesystem: string;
  readonly log: Logger;
  readonly cpuRates?: CpuRates;
  readonly readNetwork?: (pid: number) => Promise<InterfaceUsage[] | null>;
}

const DEFAULT_INTERFACE = 'eth0';

interface ContainerSample {
  readonly stats: ContainerStats;
  readonly usage: CgroupUsage | null;
}

export class StatsCollector {
  private readonly cpuRates: CpuRates;
  private readonly readNetwork: (pid: number) => Promise<InterfaceUsage[] | null>;
  /** A container's cgroups path never changes; reading its bundle once is enough. */
  private readonly cgroupDirs = new Map<string, string>();

  constructor(private readonly deps: StatsCollectorDeps) {
    this.cpuRates = deps.cpuRates ?? new CpuRates();
    this.readNetwork = deps.readNetwork ?? readNetworkUsage;
  }

  async container(id: string): Promise<ContainerStats> {
    const container = this.deps.containers.find(id);
    if (!container || container.infra) throw new NotFoundError(`container "${id}" not found`);
    return (await this.sampleContainer(container)).stats;
  }

  async containers(filter: ContainerStatsFilter | null): Promise<ContainerStats[]> {
    const records = this.deps.containers.list(filter === null ? null : { ...filter, state: null });
    const samples = await Promise.all(records.map((container) => this.sampleContainer(container)));
    this.forgetRemoved();
    return samples.map((sample) => sample.stats);
  }

  async pod(id: string): Promise<PodStats> {
    const sandbox = this.deps.sandboxes.find(id);
    if (!sandbox) throw new NotFoundError(`pod sandbox "${id}" not found`);
    return this.samplePod(sandbox);
  }

  async pods(filter: PodStatsFilter | null): Promise<PodStats[]> {
    const sandboxes = this.deps.sandboxes.list(filter === null ? null : { ...filter, state: null });
    const stats = await Promise.all(sandboxes.map((sandbox) => this.samplePod(sandbox)));
    this.forgetRemoved();
    return stats;
  }

  private async sampleContainer(container: ContainerRecord): Promise<ContainerSample> {
    const running = container.state === 'CONTAINER_RUNNING';
    const [usage, layer] = await Promise.all([
      running ? this.guarded(container.id, 'cgroup', () => this.cgroupUsageOf(container.id)) : null,
      this.writableLayerUsage(container),
    ]);
    return {
      usage,
      stats: {
        container,
        timestamp: new Date(),
        ...this.cpuAndMemory(container.id, usage),
        writableLayer: layer === null ? null : { ...layer, mountpoint: this.deps.layerFilesystem },
      },
    };
  }

  private async samplePod(sandbox: SandboxRecord): Promise<PodStats> {
    const members = this.deps.containers
      .list({ id: null, sandboxId: sandbox.id, state: null, labels: {} })
      .filter((container) => container.sandboxId === sandbox.id);
    const samples = await Promise.all(members.map((container) => this.sampleContainer(container)));
    const containers = samples.map((sample) => sample.stats);
    if (sandbox.state !== 'SANDBOX_READY') {
      return { sandbox, timestamp: new Date(), cpu: null, memory: null, network: null, processCount: null, containers };
    }
    const infra = sandbox.infraContainerId === null ? undefined : this.deps.containers.find(sandbox.infraContainerId);
    const runningInfra = infra?.state === 'CONTAINER_RUNNING' ? infra : undefined;
    const [usage, network] = await Promise.all([
      this.guarded(sandbox.id, 'pod cgroup', () => this.podUsage(sandbox, samples, runningInfra)),
      this.guarded(sandbox.id, 'network', () => this.podNetwork(sandbox, [runningInfra, ...members])),
    ]);
    return {
      sandbox,
      timestamp: new Date(),
      ...this.cpuAndMemory(sandbox.id, usage),
      network,
      processCount: usage?.processes ?? null,
      containers,
    };
  }

  /**
   * The pod's own cgroup when it has one (the kubelet always gives one);
   * otherwise its containers share crion's default parent with other pods,
   * and the pod's usage is the sum of its running containers' and infra's.
   */
  private async podUsage(
    sandbox: SandboxRecord,
    samples: readonly ContainerSample[],
    infra: ContainerRecord | undefined,
  ): Promise<CgroupUsage | null> {
    const dir = podCgroupDir(sandbox.cgroupParent, this.deps.cgroupDriver);
    if (dir !== null) return readCgroupUsage(this.deps.hierarchies, dir);
    const usages = samples.map((sample) => sample.usage);
    if (infra !== undefined) usages.push(await this.cgroupUsageOf(infra.id));
    return sumUsage(usages.filter((usage): usage is CgroupUsage => usage !== null));
  }

  /**
   * The interfaces of the pod's network namespace, read through the first of
   * `candidates` (the pod's infra and app containers) still running; null for
   * host-network pods, whose counters would be the node's.
   */
  async podNetwork(sandbox: SandboxRecord, candidates: ReadonlyArray<ContainerRecord | undefined>): Promise<NetworkStats | null> {
    if (sandbox.network === 'NODE') return null;
    // Any running process of the pod sees the pod's network namespace; the first one still there answers.
    for (const container of candidates) {
      if (container?.state !== 'CONTAINER_RUNNING' || container.pid <= 0) continue;
      const interfaces = await this.readNetwork(container.pid);
      if (interfaces === null) continue;
      return { defaultInterface: interfaces.find((entry) => entry.name === DEFAULT_INTERFACE) ?? null, interfaces };
    }
    return null;
  }

  private async cgroupUsageOf(id: string): Promise<CgroupUsage | null> {
    const dir = await this.cgroupDirOf(id);
    return dir === null ? null : readCgroupUsage(this.deps.hierarchies, dir);
  }

  /** Bytes and inodes of the container's writable layer, measured at most every few seconds; null when unreadable. */
  async writableLayerUsage(container: ContainerRecord): Promise<MeasuredUsage | null> {
    return this.guarded(container.id, 'writable layer', () =>
      this.deps.writableLayers.of(container.id, this.deps.containers.writableLayerOf(container.id)),
    );
  }

  /** The container's cgroup, relative to each hierarchy's mount point; null when its bundle names none. */
  async cgroupDirOf(id: string): Promise<string | null> {
    let dir = this.cgroupDirs.get(id);
    if (dir === undefined) {
      const cgroupsPath = await this.deps.containers.cgroupsPathOf(id);
      if (cgroupsPath === null) return null;
      dir = cgroupDirOf(cgroupsPath);
      this.cgroupDirs.set(id, dir);
    }
    return dir;
  }

  private cpuAndMemory(key: string, usage: CgroupUsage | null): { cpu: CpuStats | null; memory: MemoryStats | null } {
    const cpuNanos = usage?.cpuNanos ?? null;
    const memory = usage?.memory ?? null;
    return {
      cpu: cpuNanos === null ? null : { usageCoreNanoSeconds: cpuNanos, usageNanoCores: this.cpuRates.sample(key, cpuNanos) },
      memory:
        memory === null
          ? null
          : {
              workingSetBytes: memory.workingSetBytes,
              usageBytes: memory.usageBytes,
              rssBytes: memory.rssBytes,
              pageFaults: memory.pageFaults,
              majorPageFaults: memory.majorPageFaults,
              availableBytes:
                memory.limitBytes === null ? null : memory.limitBytes > memory.workingSetBytes ? memory.limitBytes - memory.workingSetBytes : 0n,
            },
    };
  }

  /** One container's unreadable cgroup or layer must not fail the kubelet's whole list: it is logged and left out. */
  private guarded<T>(id: string, part: string, read: () => Promise<T>): Promise<T | null> {
    return guardedRead(this.deps.log, 'stats', id, part, read);
  }

  /** Per-object memory (CPU samples, cgroup paths, layer sizes) goes with the object. */
  forgetRemoved(): void {
    const live = new Set<string>();
    for (const sandbox of this.deps.sandboxes.list(null)) {
      live.add(sandbox.id);
      if (sandbox.infraContainerId !== null) live.add(sandbox.infraContainerId);
    }
    for (const container of this.deps.containers.list(null)) live.add(container.id);
    const exists = (key: string) => live.has(key);
    this.cpuRates.retain(exists);
    this.deps.writableLayers.retain(exists);
    for (const key of this.cgroupDirs.keys()) {
      if (!exists(key)) this.cgroupDirs.delete(key);
    }
  }
}

function sumUsage(usages: readonly CgroupUsage[]): CgroupUsage | null {
  if (usages.length === 0) return null;
  const sum = (values: ReadonlyArray<bigint | null>): bigint | null =>
    values.some((value) => value !== null) ? values.reduce<bigint>((total, value) => total + (value ?? 0n), 0n) : null;
  const memories = usages.flatMap((usage) => (usage.memory === null ? [] : [usage.memory]));
  return {
    cpuNanos: sum(usages.map((usage) => usage.cpuNanos)),
    processes: sum(usages.map((usage) => usage.processes)),
    memory:
      memories.length === 0
        ? null
        : {
            usageBytes: sum(memories.map((memory) => memory.usageBytes)) ?? 0n,
            workingSetBytes: sum(memories.map((memory) => memory.workingSetBytes)) ?? 0n,
            rssBytes: sum(memories.map((memory) => memory.rssBytes)),
            pageFaults: sum(memories.map((memory) => memory.pageFaults)),
            majorPageFaults: sum(memories.map((memory) => memory.majorPageFaults)),
            cacheBytes: sum(memories.map((memory) => memory.cacheBytes)),
            mappedFileBytes: sum(memories.map((memory) => memory.mappedFileBytes)),
            // The containers' limits do not add up to a pod limit crion could vouch for.
            limitBytes: null,
          },
  };
}
