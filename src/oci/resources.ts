import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { LinuxContainerResources__Output } from '../generated/runtime/v1/LinuxContainerResources.js';
import { int64Field } from './cri-values.js';
import type { HostFacts } from './spec-inputs.js';
import type { OciCpu, OciHugepageLimit, OciMemory, OciResources } from './spec-types.js';

/**
 * The cgroup limits of a container (linux.resources minus devices) and its
 * oom_score_adj. CRI uses 0 for "not set" throughout, so a zero field adds
 * nothing to the spec.
 */

export interface ContainerLimits {
  readonly memory: OciMemory | null;
  readonly cpu: OciCpu | null;
  readonly hugepageLimits: OciHugepageLimit[] | null;
  readonly unified: Record<string, string> | null;
  /** null leaves the score the OCI runtime inherits from crion. */
  readonly oomScoreAdj: number | null;
  /** The requested limits this node cannot apply and that were left out, each saying why: for one log line. */
  readonly dropped: readonly string[];
}

/** The controllers a container's linux.resources can ask of (pids limits are the kubelet's, on the pod's cgroup). */
export const LIMIT_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'hugetlb'] as const;

const FIELD = 'linux.resources';
const INT64_MAX = Number.MAX_SAFE_INTEGER;
const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

type LimitFacts = Pick<
  HostFacts,
  'cgroupLayout' | 'cgroupControllers' | 'hugepageSizes' | 'tolerateMissingHugetlbController' | 'swapAccounting' | 'oomScoreAdjFloor'
>;

/**
 * Requests are validated whatever the node offers; then each group of
 * limits whose cgroup controller the OCI runtime cannot reach is left out.
 * runc fails a create on a limit for a controller it has no cgroup in
 * ("cannot set hugetlb limit: container could not join or create cgroup"),
 * and the kubelet sends some limits on every node (a hugepage limit for
 * every page size the kernel has, CPU shares for every container), so
 * refusing them would refuse every pod.
 */
export function containerLimits(resources: LinuxContainerResources__Output | null, host: LimitFacts): ContainerLimits {
  if (resources === null) return { memory: null, cpu: null, hugepageLimits: null, unified: null, oomScoreAdj: null, dropped: [] };
  const dropped: string[] = [];
  const reachable = controllerCheck(host, dropped);
  const cpu = {
    ...reachable('cpu', 'cpu_shares, cpu_quota and cpu_period', cpuBandwidth(resources)),
    ...reachable('cpuset', 'cpuset_cpus and cpuset_mems', cpuset(resources)),
  };
  return {
    memory: reachable('memory', 'memory_limit_in_bytes and memory_swap_limit_in_bytes', memoryLimits(resources, host)),
    cpu: Object.keys(cpu).length === 0 ? null : cpu,
    hugepageLimits: hugepageLimits(resources, host, reachable, dropped),
    unified: unifiedLimits(resources, host, dropped),
    oomScoreAdj: clampOomScoreAdj(int64Field(resources.oomScoreAdj, `${FIELD}.oom_score_adj`, -1000, 1000), host.oomScoreAdjFloor),
    dropped,
  };
}

type Reachable = <T>(controller: string, fields: string, limits: T | null) => T | null;

/** Passes limits through when the OCI runtime's hierarchy has their controller; otherwise notes them as dropped. */
function controllerCheck(host: LimitFacts, dropped: string[]): Reachable {
  return (controller, fields, limits) => {
    if (limits === null || host.cgroupControllers.includes(controller)) return limits;
    dropped.push(`${FIELD}.${fields}: ${missingController(controller, host)}`);
    return null;
  };
}

function missingController(controller: string, host: Pick<HostFacts, 'cgroupLayout'>): string {
  const where = host.cgroupLayout === 'v2' ? "the cgroup v2 root's cgroup.controllers" : `the cgroup v1 hierarchies (layout ${host.cgroupLayout})`;
  return `the ${controller} controller is not in ${where} that the OCI runtime uses`;
}

/** The cgroup part of linux.resources, for a new spec and for `runc update` alike; unset limits are left out. */
export function ociResources(limits: ContainerLimits): Omit<OciResources, 'devices'> {
  const resources: Omit<OciResources, 'devices'> = {};
  if (limits.memory !== null) resources.memory = limits.memory;
  if (limits.cpu !== null) resources.cpu = limits.cpu;
  if (limits.hugepageLimits !== null) resources.hugepageLimits = limits.hugepageLimits;
  if (limits.unified !== null) resources.unified = limits.unified;
  return resources;
}

/**
 * A daemon without CAP_SYS_RESOURCE cannot give a child a score below its
 * own; asking runc to would fail the start, so the request is raised to the
 * floor, which is what containerd's restrict_oom_score_adj does.
 */
export function clampOomScoreAdj(requested: number, floor: number | null): number {
  return floor !== null && requested < floor ? floor : requested;
}

function memoryLimits(resources: LinuxContainerResources__Output, host: LimitFacts): OciMemory | null {
  const limit = int64Field(resources.memoryLimitInBytes, `${FIELD}.memory_limit_in_bytes`, 0, INT64_MAX);
  const swap = int64Field(resources.memorySwapLimitInBytes, `${FIELD}.memory_swap_limit_in_bytes`, -1, INT64_MAX);
  if (swap > 0 && limit > 0 && swap < limit) {
    throw new InvalidArgumentError(
      `${FIELD}.memory_swap_limit_in_bytes (${swap}) is below memory_limit_in_bytes (${limit}); ` + 'it counts memory plus swap',
    );
  }
  const memory: OciMemory = {};
  if (limit > 0) memory.limit = limit;
  // Without a swap limit, memory+swap equals the memory limit: the container may not swap by default.
  // A node that does not account swap cannot enforce either, and runc would fail on the missing file.
  if (host.swapAccounting) {
    if (swap !== 0) memory.swap = swap;
    else if (limit > 0) memory.swap = limit;
  }
  return Object.keys(memory).length === 0 ? null : memory;
}

function cpuBandwidth(resources: LinuxContainerResources__Output): OciCpu | null {
  const cpu: OciCpu = {};
  const shares = int64Field(resources.cpuShares, `${FIELD}.cpu_shares`, 0, 262144);
  const quota = int64Field(resources.cpuQuota, `${FIELD}.cpu_quota`, -1, INT64_MAX);
  const period = int64Field(resources.cpuPeriod, `${FIELD}.cpu_period`, 0, 1_000_000);
  if (shares !== 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period !== 0) cpu.period = period;
  return Object.keys(cpu).length === 0 ? null : cpu;
}

function cpuset(resources: LinuxContainerResources__Output): OciCpu | null {
  const cpu: OciCpu = {};
  for (const [key, field, value] of [
    ['cpus', 'cpuset_cpus', resources.cpusetCpus],
    ['mems', 'cpuset_mems', resources.cpusetMems],
  ] as const) {
    if (value === '') continue;
    if (!CPUSET.test(value)) {
      throw new InvalidArgumentError(`${FIELD}.${field}: "${value}" is not a list such as 0-3,6`);
    }
    cpu[key] = value;
  }
  return Object.keys(cpu).length === 0 ? null : cpu;
}

/**
 * The kubelet sends a limit for every page size the kernel has, often 0,
 * whether or not a hugetlb controller exists where the OCI runtime puts its
 * cgroups (on this kind of hybrid host it sits only in the v2 hierarchy,
 * which runc's v1 driver does not use). Like containerd's
 * tolerate_missing_hugetlb_controller, crion then leaves them out unless
 * told to refuse; sizes the kernel does not have are left out too, since no
 * page of that size can be allocated anyway.
 */
function hugepageLimits(
  resources: LinuxContainerResources__Output,
  host: LimitFacts,
  reachable: Reachable,
  dropped: string[],
): OciHugepageLimit[] | null {
  const requested = resources.hugepageLimits.map((entry, i) => ({
    pageSize: entry.pageSize,
    limit: int64Field(entry.limit, `${FIELD}.hugepage_limits[${i}].limit`, 0, INT64_MAX),
  }));
  if (requested.length === 0) return null;
  if (!host.tolerateMissingHugetlbController && !host.cgroupControllers.includes('hugetlb')) {
    throw new FailedPreconditionError(
      `${FIELD}.hugepage_limits: ${missingController('hugetlb', host)}, ` + 'and runtime.tolerate_missing_hugetlb_controller is false',
    );
  }
  const sized = requested.filter((entry) => host.hugepageSizes.includes(entry.pageSize));
  const unsized = requested.filter((entry) => !host.hugepageSizes.includes(entry.pageSize)).map((entry) => entry.pageSize);
  if (unsized.length > 0) dropped.push(`${FIELD}.hugepage_limits of ${unsized.join(', ')}: the kernel has no such page size`);
  return reachable('hugetlb', 'hugepage_limits', sized.length === 0 ? null : sized);
}

/**
 * cgroup v2 files by name, which the kubelet sends only on v2 nodes
 * (memory.high for MemoryQoS, …). A file of a controller the root does not
 * offer is left out as any other unreachable limit; `cgroup.*` files exist
 * in every cgroup.
 */
function unifiedLimits(resources: LinuxContainerResources__Output, host: LimitFacts, dropped: string[]): Record<string, string> | null {
  const entries = Object.entries(resources.unified).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return null;
  if (host.cgroupLayout !== 'v2') {
    throw new InvalidArgumentError(`${FIELD}.unified needs cgroup v2; this node runs cgroup ${host.cgroupLayout}`);
  }
  for (const [key] of entries) {
    // A key names a file in the container's own cgroup directory: `<controller>.<name>`, nothing else.
    if (!/^[a-z_]+\.[a-z0-9_.]+$/.test(key)) {
      throw new InvalidArgumentError(`${FIELD}.unified: "${key}" is not a cgroup v2 file name`);
    }
  }
  const kept = entries.filter(([key]) => {
    const controller = key.slice(0, key.indexOf('.'));
    if (controller === 'cgroup' || host.cgroupControllers.includes(controller)) return true;
    dropped.push(`${FIELD}.unified["${key}"]: ${missingController(controller, host)}`);
    return false;
  });
  return kept.length === 0 ? null : Object.fromEntries(kept);
}
