import { statfs } from 'node:fs/promises';
import { Limiter } from '../concurrency/limiter.js';
import type { ContainerRecord } from '../container/container-manager.js';
import type { Logger } from '../log/logger.js';
import { guardedRead } from './guarded-read.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import { DeviceNames, readBlockIo, type DeviceIo } from './block-io.js';
import { readCgroupDetail, type CgroupDetail } from './cgroup-detail.js';
import type { CgroupHierarchies } from './cgroup-usage.js';
import { METRICS, POD_CONTAINER_LABEL, type MetricKey, type MetricKind } from './metric-descriptors.js';
import type { InterfaceUsage } from './network-usage.js';
import { readOpenFiles, type OpenFiles } from './process-files.js';
import type { NetworkStats, StatsContainers, StatsSandboxes } from './stats-collector.js';
import type { MeasuredUsage } from './writable-layer-usage.js';

/**
 * ListPodSandboxMetrics' content: for every pod, its network counters (the
 * pod's namespace, labelled as the kubelet's cAdvisor path labels its
 * infra) and, for each running container, the cAdvisor-named metrics of
 * its cgroup. Stopped containers have no cgroup and are left out, as
 * cAdvisor and CRI-O leave them out. Values are read when asked for, so
 * every metric's timestamp is 0 ("gathered live", per the CRI).
 */

export interface MetricValue {
  readonly name: string;
  readonly kind: MetricKind;
  /** In the order of the descriptor's label keys. */
  readonly labelValues: readonly string[];
  readonly value: bigint;
}

export interface ContainerMetrics {
  readonly containerId: string;
  readonly metrics: readonly MetricValue[];
}

export interface PodMetrics {
  readonly podSandboxId: string;
  readonly metrics: readonly MetricValue[];
  readonly containerMetrics: readonly ContainerMetrics[];
}

/** What the metrics share with the CRI stats: the cached cgroup paths, the pod network reader and the writable layer sizes. */
export interface MetricsStatsSource {
  cgroupDirOf(containerId: string): Promise<string | null>;
  writableLayerUsage(container: ContainerRecord): Promise<MeasuredUsage | null>;
  podNetwork(sandbox: SandboxRecord, candidates: ReadonlyArray<ContainerRecord | undefined>): Promise<NetworkStats | null>;
  forgetRemoved(): void;
}

export interface PodMetricsCollectorDeps {
  readonly containers: Pick<StatsContainers, 'list' | 'find'>;
  readonly sandboxes: Pick<StatsSandboxes, 'list'>;
  readonly stats: MetricsStatsSource;
  readonly hierarchies: CgroupHierarchies;
  /** The filesystem the writable layers are on, whose size and inodes the container_fs_* metrics report. */
  readonly layerFilesystem: string;
  readonly log: Logger;
  readonly statFilesystem?: (dir: string) => Promise<FilesystemSize>;
  readonly readOpenFiles?: (pids: readonly number[]) => Promise<OpenFiles>;
  /** Wall clock for container_last_seen; injectable for tests. */
  readonly now?: () => Date;
  /** How many containers' cgroups are read at once: each is a dozen small files, on libuv's shared thread pool. */
  readonly concurrency?: number;
}

const NANOS_PER_SECOND = 1_000_000_000n;

export interface FilesystemSize {
  readonly bytes: bigint;
  readonly inodes: bigint;
  readonly freeInodes: bigint;
}

export interface NamedDeviceIo extends DeviceIo {
  readonly device: string;
}

/** What a container's metrics are made of besides its cgroup; each part null when it could not be read. */
export interface ContainerSources {
  readonly io: readonly NamedDeviceIo[] | null;
  readonly openFiles: OpenFiles | null;
  readonly layer: MeasuredUsage | null;
  readonly filesystem: FilesystemSize | null;
}

async function statLayerFilesystem(dir: string): Promise<FilesystemSize> {
  const stats = await statfs(dir, { bigint: true });
  return { bytes: stats.blocks * stats.bsize, inodes: stats.files, freeInodes: stats.ffree };
}

export class PodMetricsCollector {
  private readonly limiter: Limiter;
  private readonly now: () => Date;
  private readonly statFilesystem: (dir: string) => Promise<FilesystemSize>;
  private readonly readOpenFiles: (pids: readonly number[]) => Promise<OpenFiles>;
  private readonly deviceNames = new DeviceNames();

  constructor(private readonly deps: PodMetricsCollectorDeps) {
    this.limiter = new Limiter(deps.concurrency ?? 8);
    this.now = deps.now ?? (() => new Date());
    this.statFilesystem = deps.statFilesystem ?? statLayerFilesystem;
    this.readOpenFiles = deps.readOpenFiles ?? ((pids) => readOpenFiles(pids));
  }

  /** Every pod, each with its running containers; one listing of the containers, grouped by pod. */
  async list(): Promise<PodMetrics[]> {
    const members = new Map<string, ContainerRecord[]>();
    for (const container of this.deps.containers.list(null)) {
      const list = members.get(container.sandboxId);
      if (list === undefined) members.set(container.sandboxId, [container]);
      else list.push(container);
    }
    // One statfs per call: every writable layer is on the same filesystem.
    const filesystem = await this.guarded('layers', 'layer filesystem', () => this.statFilesystem(this.deps.layerFilesystem));
    const pods = await Promise.all(this.deps.sandboxes.list(null).map((sandbox) => this.pod(sandbox, members.get(sandbox.id) ?? [], filesystem)));
    this.deps.stats.forgetRemoved();
    return pods;
  }

  private async pod(sandbox: SandboxRecord, members: readonly ContainerRecord[], filesystem: FilesystemSize | null): Promise<PodMetrics> {
    const running = members.filter((container) => container.state === 'CONTAINER_RUNNING');
    const [network, containerMetrics] = await Promise.all([
      this.podNetworkMetrics(sandbox, members),
      Promise.all(running.map((container) => this.limiter.run(() => this.container(sandbox, container, filesystem)))),
    ]);
    return {
      podSandboxId: sandbox.id,
      metrics: network,
      containerMetrics: containerMetrics.filter((entry): entry is ContainerMetrics => entry !== null),
    };
  }

  private async podNetworkMetrics(sandbox: SandboxRecord, members: readonly ContainerRecord[]): Promise<MetricValue[]> {
    if (sandbox.state !== 'SANDBOX_READY') return [];
    const infra = sandbox.infraContainerId === null ? undefined : this.deps.containers.find(sandbox.infraContainerId);
    const network = await this.guarded(sandbox.id, 'network', () => this.deps.stats.podNetwork(sandbox, [infra, ...members]));
    if (network === null) return [];
    const base = [sandbox.id, '', sandbox.metadata.namespace, sandbox.metadata.name, POD_CONTAINER_LABEL];
    return network.interfaces.flatMap((entry) => interfaceMetrics(base, entry));
  }

  /** null when its cgroup cannot be read: one container must not fail the kubelet's whole scrape. */
  private async container(sandbox: SandboxRecord, container: ContainerRecord, filesystem: FilesystemSize | null): Promise<ContainerMetrics | null> {
    const dir = await this.guarded(container.id, 'cgroup path', () => this.deps.stats.cgroupDirOf(container.id));
    if (dir === null) return null;
    const [detail, io, layer] = await Promise.all([
      this.guarded(container.id, 'cgroup', () => readCgroupDetail(this.deps.hierarchies, dir)),
      this.guarded(container.id, 'block I/O', () => this.namedIo(dir)),
      this.deps.stats.writableLayerUsage(container),
    ]);
    if (detail === null) return null;
    const openFiles = await this.guarded(container.id, 'open files', () => this.readOpenFiles(detail.pids));
    const base = [container.id, imageLabel(container), sandbox.metadata.namespace, sandbox.metadata.name, container.metadata.name];
    return { containerId: container.id, metrics: containerMetricValues(base, detail, { io, openFiles, layer, filesystem }, container, this.now()) };
  }

  private async namedIo(dir: string): Promise<NamedDeviceIo[] | null> {
    const devices = await readBlockIo(this.deps.hierarchies, dir);
    if (devices === null) return null;
    return Promise.all(devices.map(async (entry) => ({ ...entry, device: await this.deviceNames.of(entry.major, entry.minor) })));
  }

  private guarded<T>(id: string, part: string, read: () => Promise<T>): Promise<T | null> {
    return guardedRead(this.deps.log, 'metrics', id, part, read);
  }
}

/** The metrics of one container's cgroup, each left out when the host or the cgroup does not have it. */
export function containerMetricValues(
  base: readonly string[],
  detail: CgroupDetail,
  sources: ContainerSources,
  container: ContainerRecord,
  now: Date,
): MetricValue[] {
  const values: MetricValue[] = [];
  const add = (key: MetricKey, value: bigint | null, ...labels: string[]) => {
    if (value === null) return;
    const descriptor = METRICS[key];
    values.push({ name: descriptor.name, kind: descriptor.kind, labelValues: [...base, ...labels], value });
  };
  const { usage, cpu, cpuSpec } = detail;
  const memory = usage.memory;
  add('lastSeen', BigInt(Math.floor(now.getTime() / 1000)));
  const startedAt = /^\d+$/.test(container.startedAt) ? BigInt(container.startedAt) : 0n;
  if (startedAt > 0n) add('startTime', startedAt / NANOS_PER_SECOND);

  add('cpuUsage', seconds(usage.cpuNanos), 'total');
  add('cpuUser', seconds(cpu?.userNanos ?? null));
  add('cpuSystem', seconds(cpu?.systemNanos ?? null));
  // As cAdvisor: the CFS counters only mean something for a cgroup with a quota.
  if (cpuSpec?.quotaMicros != null) {
    add('cfsPeriods', cpu?.periods ?? null);
    add('cfsThrottledPeriods', cpu?.throttledPeriods ?? null);
    add('cfsThrottledSeconds', seconds(cpu?.throttledNanos ?? null));
  }

  if (memory !== null) {
    add('memoryUsage', memory.usageBytes);
    add('memoryWorkingSet', memory.workingSetBytes);
    add('memoryRss', memory.rssBytes);
    add('memoryCache', memory.cacheBytes);
    add('memoryMappedFile', memory.mappedFileBytes);
    add('memoryKernel', detail.kernelBytes);
    add('memoryMaxUsage', detail.maxUsageBytes);
    // A container's cgroup is a leaf, so its own faults and its hierarchy's are the same count.
    for (const scope of ['container', 'hierarchy']) {
      add('memoryFailures', memory.pageFaults, 'pgfault', scope);
      add('memoryFailures', memory.majorPageFaults, 'pgmajfault', scope);
    }
    // cAdvisor reports "no limit" as 0.
    add('specMemoryLimit', memory.limitBytes ?? 0n);
  }
  add('memorySwap', detail.swapBytes);
  add('memoryFailcnt', detail.memoryFailcnt);
  add('oomEvents', detail.oomKills);

  // Only where swap is accounted: without it there is no swap limit to report, not an unlimited one.
  if (detail.swapBytes !== null) add('specMemorySwapLimit', detail.swapLimitBytes ?? 0n);
  add('specCpuShares', cpuSpec?.shares ?? null);
  add('specCpuPeriod', cpuSpec?.periodMicros ?? null);
  add('specCpuQuota', cpuSpec?.quotaMicros ?? null);

  add('processes', detail.processCount);
  add('fileDescriptors', sources.openFiles?.fileDescriptors ?? null);
  add('sockets', sources.openFiles?.sockets ?? null);
  if (sources.layer !== null) add('fsUsage', BigInt(sources.layer.bytes));
  for (const entry of sources.io ?? []) {
    add('fsReadsBytes', entry.readBytes, entry.device);
    add('fsReads', entry.reads, entry.device);
    add('fsWritesBytes', entry.writeBytes, entry.device);
    add('fsWrites', entry.writes, entry.device);
    add('blkioDeviceUsage', entry.readBytes, entry.device, String(entry.major), String(entry.minor), 'Read');
    add('blkioDeviceUsage', entry.writeBytes, entry.device, String(entry.major), String(entry.minor), 'Write');
  }
  if (sources.filesystem !== null) {
    add('fsLimit', sources.filesystem.bytes);
    add('fsInodesTotal', sources.filesystem.inodes);
    add('fsInodesFree', sources.filesystem.freeInodes);
  }
  // pids.current counts tasks, that is threads, as cAdvisor's container_threads does.
  add('threads', usage.processes);
  if (usage.processes !== null) add('threadsMax', detail.threadsMax ?? 0n);
  return values;
}

function interfaceMetrics(base: readonly string[], entry: InterfaceUsage): MetricValue[] {
  const counters: Array<[MetricKey, bigint]> = [
    ['networkReceiveBytes', entry.rxBytes],
    ['networkReceivePackets', entry.rxPackets],
    ['networkReceiveErrors', entry.rxErrors],
    ['networkReceiveDropped', entry.rxDropped],
    ['networkTransmitBytes', entry.txBytes],
    ['networkTransmitPackets', entry.txPackets],
    ['networkTransmitErrors', entry.txErrors],
    ['networkTransmitDropped', entry.txDropped],
  ];
  return counters.map(([key, value]) => ({ name: METRICS[key].name, kind: METRICS[key].kind, labelValues: [...base, entry.name], value }));
}

/**
 * The image as the pod spec names it: the kubelet creates containers from
 * the image's ID and passes the name it was asked for alongside
 * (user_specified_image), which is what cAdvisor's `image` label shows.
 */
function imageLabel(container: ContainerRecord): string {
  const userSpecified = container.config.image?.userSpecifiedImage;
  return userSpecified !== undefined && userSpecified !== '' ? userSpecified : container.image;
}

/** CRI values are integers: whole seconds, truncated. */
function seconds(nanos: bigint | null): bigint | null {
  return nanos === null ? null : nanos / NANOS_PER_SECOND;
}
