import type { ContainerStats as CriContainerStats } from '../generated/runtime/v1/ContainerStats.js';
import type { ContainerStatsFilter__Output } from '../generated/runtime/v1/ContainerStatsFilter.js';
import type { PodSandboxStatsFilter__Output } from '../generated/runtime/v1/PodSandboxStatsFilter.js';
import type { CpuUsage } from '../generated/runtime/v1/CpuUsage.js';
import type { MemoryUsage } from '../generated/runtime/v1/MemoryUsage.js';
import type { NetworkInterfaceUsage } from '../generated/runtime/v1/NetworkInterfaceUsage.js';
import type { PodSandboxStats as CriPodSandboxStats } from '../generated/runtime/v1/PodSandboxStats.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import type { UInt64Value } from '../generated/runtime/v1/UInt64Value.js';
import type { ContainerStats, CpuStats, MemoryStats, PodStats, StatsCollector } from '../stats/stats-collector.js';
import type { InterfaceUsage } from '../stats/network-usage.js';
import { unixNanos } from '../unix-nanos.js';
import { containerListFilter, podListFilter } from './list-filters.js';
import { sendInChunks } from './list-stream.js';
import type { ServiceRpcs } from './services.js';

export interface StatsRpcDeps {
  readonly stats: StatsCollector;
}

/**
 * ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats, ListPodSandboxStats, StreamPodSandboxStats.
 * The filters are read as ListContainers and ListPodSandbox read theirs
 * (list-filters.ts: an empty field means "any"); a missing
 * container or pod is NOT_FOUND for the single-object calls.
 */
export function statsRpcs(deps: StatsRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { stats } = deps;
  const listContainers = async (filter: ContainerStatsFilter__Output | null) =>
    (await stats.containers(containerListFilter(filter))).map(criContainerStats);
  const listPods = async (filter: PodSandboxStatsFilter__Output | null) => (await stats.pods(podListFilter(filter))).map(criPodStats);
  return {
    async ContainerStats(request) {
      return { stats: criContainerStats(await stats.container(request.containerId)) };
    },

    async ListContainerStats(request) {
      return { stats: await listContainers(request.filter) };
    },

    async StreamContainerStats(request, sink) {
      await sendInChunks(await listContainers(request.filter), sink, (containerStats) => ({ containerStats }));
    },

    async PodSandboxStats(request) {
      return { stats: criPodStats(await stats.pod(request.podSandboxId)) };
    },

    async ListPodSandboxStats(request) {
      return { stats: await listPods(request.filter) };
    },

    async StreamPodSandboxStats(request, sink) {
      await sendInChunks(await listPods(request.filter), sink, (podSandboxStats) => ({ podSandboxStats }));
    },
  };
}

function criContainerStats(stats: ContainerStats): CriContainerStats {
  const { container } = stats;
  const timestamp = unixNanos(stats.timestamp);
  const layer = stats.writableLayer;
  return {
    attributes: {
      id: container.id,
      metadata: container.metadata,
      labels: container.config.labels,
      annotations: container.config.annotations,
    },
    cpu: criCpu(stats.cpu, timestamp),
    memory: criMemory(stats.memory, timestamp),
    writableLayer:
      layer === null
        ? null
        : {
            timestamp: unixNanos(layer.measuredAt),
            fsId: { mountpoint: layer.mountpoint },
            usedBytes: { value: String(layer.bytes) },
            inodesUsed: { value: String(layer.inodes) },
          },
  };
}

function criPodStats(stats: PodStats): CriPodSandboxStats {
  const { sandbox } = stats;
  const timestamp = unixNanos(stats.timestamp);
  return {
    attributes: { id: sandbox.id, metadata: sandbox.metadata, labels: sandbox.labels, annotations: sandbox.annotations },
    linux: {
      cpu: criCpu(stats.cpu, timestamp),
      memory: criMemory(stats.memory, timestamp),
      network:
        stats.network === null
          ? null
          : {
              timestamp,
              defaultInterface: stats.network.defaultInterface === null ? null : criInterface(stats.network.defaultInterface),
              interfaces: stats.network.interfaces.map(criInterface),
            },
      process: stats.processCount === null ? null : { timestamp, processCount: value(stats.processCount) },
      containers: stats.containers.map(criContainerStats),
    },
  };
}

function criCpu(cpu: CpuStats | null, timestamp: string): CpuUsage | null {
  if (cpu === null) return null;
  return { timestamp, usageCoreNanoSeconds: value(cpu.usageCoreNanoSeconds), usageNanoCores: value(cpu.usageNanoCores) };
}

function criMemory(memory: MemoryStats | null, timestamp: string): MemoryUsage | null {
  if (memory === null) return null;
  return {
    timestamp,
    workingSetBytes: value(memory.workingSetBytes),
    availableBytes: value(memory.availableBytes),
    usageBytes: value(memory.usageBytes),
    rssBytes: value(memory.rssBytes),
    pageFaults: value(memory.pageFaults),
    majorPageFaults: value(memory.majorPageFaults),
  };
}

function criInterface(entry: InterfaceUsage): NetworkInterfaceUsage {
  return {
    name: entry.name,
    rxBytes: value(entry.rxBytes),
    rxErrors: value(entry.rxErrors),
    txBytes: value(entry.txBytes),
    txErrors: value(entry.txErrors),
  };
}

/** CRI wraps optional counters in UInt64Value, so "unknown" (unset) differs from zero. */
function value(count: bigint | null): UInt64Value | null {
  return count === null ? null : { value: count.toString() };
}
