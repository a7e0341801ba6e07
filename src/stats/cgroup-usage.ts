import path from 'node:path';
import type { Cgroups } from '../native/index.js';
import { flatKeyed, parseCounter, parseLimit, readOptional } from './cgroup-files.js';

/**
 * A cgroup's resource usage, read from whichever hierarchy holds each
 * controller: cgroup v1 (one mount per controller, as on this project's CI
 * hosts, where the v2 mount holds only hugetlb) or the unified v2 hierarchy.
 * A controller the host lacks, or a file the cgroup does not have (a
 * controller not enabled for that subtree, a cgroup already gone), leaves
 * its part null rather than failing the whole sample.
 */

export interface MemoryUsage {
  readonly usageBytes: bigint;
  /** Usage minus inactive file pages, what cadvisor and the kubelet's eviction call the working set. */
  readonly workingSetBytes: bigint;
  readonly rssBytes: bigint | null;
  readonly pageFaults: bigint | null;
  readonly majorPageFaults: bigint | null;
  /** Page cache, file-backed pages included in the usage. */
  readonly cacheBytes: bigint | null;
  /** Page cache mapped into the cgroup's processes. */
  readonly mappedFileBytes: bigint | null;
  /** null when the cgroup has no limit. */
  readonly limitBytes: bigint | null;
}

export interface CgroupUsage {
  /** Cumulative CPU time of every task in the cgroup, in nanoseconds. */
  readonly cpuNanos: bigint | null;
  readonly memory: MemoryUsage | null;
  readonly processes: bigint | null;
}

/** The mount point of each controller: per controller on v1, one for all on v2. */
export interface CgroupHierarchies {
  readonly v1: ReadonlyMap<string, string>;
  readonly v2: { readonly mountPoint: string; readonly controllers: ReadonlySet<string> } | null;
}

export function cgroupHierarchies(cgroups: Cgroups): CgroupHierarchies {
  return {
    v1: new Map(cgroups.v1Controllers.map((controller) => [controller.name, controller.mountPoint])),
    v2: cgroups.v2 === null ? null : { mountPoint: cgroups.v2.mountPoint, controllers: new Set(cgroups.v2.controllers) },
  };
}

/** Reads the usage of the cgroup at `dir`, a path relative to each hierarchy's mount point. */
export async function readCgroupUsage(hierarchies: CgroupHierarchies, dir: string): Promise<CgroupUsage> {
  const [cpuNanos, memory, processes] = await Promise.all([readCpu(hierarchies, dir), readMemory(hierarchies, dir), readProcesses(hierarchies, dir)]);
  return { cpuNanos, memory, processes };
}

async function readCpu({ v1, v2 }: CgroupHierarchies, dir: string): Promise<bigint | null> {
  const cpuacct = v1.get('cpuacct');
  if (cpuacct !== undefined) return parseCounter(await readOptional(path.join(cpuacct, dir, 'cpuacct.usage')));
  if (v2 === null) return null;
  // cpu.stat's usage_usec is a core file of every v2 cgroup, whether or not the cpu controller is enabled.
  const usec = flatKeyed(await readOptional(path.join(v2.mountPoint, dir, 'cpu.stat')))?.get('usage_usec');
  return usec === undefined ? null : usec * 1000n;
}

async function readMemory(hierarchies: CgroupHierarchies, dir: string): Promise<MemoryUsage | null> {
  const memory = controllerDir(hierarchies, 'memory', dir);
  if (memory === null) return null;
  const base = memory.path;
  if (memory.version === 1) {
    const [usage, stat, limit] = await Promise.all([
      readOptional(path.join(base, 'memory.usage_in_bytes')),
      readOptional(path.join(base, 'memory.stat')),
      readOptional(path.join(base, 'memory.limit_in_bytes')),
    ]);
    // The total_ keys include the cgroup's descendants, which the plain keys do not.
    return memoryUsage(parseCounter(usage), flatKeyed(stat), parseLimit(limit), {
      inactiveFile: 'total_inactive_file',
      rss: 'total_rss',
      pageFaults: 'total_pgfault',
      majorPageFaults: 'total_pgmajfault',
      cache: 'total_cache',
      mappedFile: 'total_mapped_file',
    });
  }
  const [usage, stat, limit] = await Promise.all([
    readOptional(path.join(base, 'memory.current')),
    readOptional(path.join(base, 'memory.stat')),
    readOptional(path.join(base, 'memory.max')),
  ]);
  // v2 has no rss key; anonymous memory is what containerd and cadvisor report as RSS.
  return memoryUsage(parseCounter(usage), flatKeyed(stat), parseLimit(limit), {
    inactiveFile: 'inactive_file',
    rss: 'anon',
    pageFaults: 'pgfault',
    majorPageFaults: 'pgmajfault',
    cache: 'file',
    mappedFile: 'file_mapped',
  });
}

function memoryUsage(
  usage: bigint | null,
  stat: Map<string, bigint> | null,
  limitBytes: bigint | null,
  keys: { inactiveFile: string; rss: string; pageFaults: string; majorPageFaults: string; cache: string; mappedFile: string },
): MemoryUsage | null {
  if (usage === null) return null;
  const inactiveFile = stat?.get(keys.inactiveFile) ?? 0n;
  return {
    usageBytes: usage,
    workingSetBytes: usage > inactiveFile ? usage - inactiveFile : 0n,
    rssBytes: stat?.get(keys.rss) ?? null,
    pageFaults: stat?.get(keys.pageFaults) ?? null,
    majorPageFaults: stat?.get(keys.majorPageFaults) ?? null,
    cacheBytes: stat?.get(keys.cache) ?? null,
    mappedFileBytes: stat?.get(keys.mappedFile) ?? null,
    limitBytes,
  };
}

async function readProcesses(hierarchies: CgroupHierarchies, dir: string): Promise<bigint | null> {
  const pids = controllerDir(hierarchies, 'pids', dir);
  return pids === null ? null : parseCounter(await readOptional(path.join(pids.path, 'pids.current')));
}

/**
 * Where `controller`'s files for the cgroup at `dir` are: its v1 hierarchy
 * when the host mounts one, else the v2 hierarchy when that holds it, else
 * null. `core` controllers (v2's cpu.stat usage, cgroup.procs) are in every
 * v2 cgroup whether or not the controller is enabled.
 */
export function controllerDir(
  { v1, v2 }: CgroupHierarchies,
  controller: string,
  dir: string,
  core = false,
): { readonly version: 1 | 2; readonly path: string } | null {
  const v1Mount = v1.get(controller);
  if (v1Mount !== undefined) return { version: 1, path: path.join(v1Mount, dir) };
  if (v2 === null || (!core && !v2.controllers.has(controller))) return null;
  return { version: 2, path: path.join(v2.mountPoint, dir) };
}
