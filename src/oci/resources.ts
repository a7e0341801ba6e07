import { InvalidArgumentError } from '../errors.js';
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
}

const FIELD = 'linux.resources';
const INT64_MAX = Number.MAX_SAFE_INTEGER;
const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

type LimitFacts = Pick<HostFacts, 'cgroupLayout' | 'hugepageSizes' | 'swapAccounting' | 'oomScoreAdjFloor'>;

export function containerLimits(resources: LinuxContainerResources__Output | null, host: LimitFacts): ContainerLimits {
  if (resources === null) return { memory: null, cpu: null, hugepageLimits: null, unified: null, oomScoreAdj: null };
  return {
    memory: memoryLimits(resources, host),
    cpu: cpuLimits(resources),
    hugepageLimits: hugepageLimits(resources, host),
    unified: unifiedLimits(resources, host),
    oomScoreAdj: clampOomScoreAdj(
      int64Field(resources.oomScoreAdj, `${FIELD}.oom_score_adj`, -1000, 1000),
      host.oomScoreAdjFloor,
    ),
  };
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
      `${FIELD}.memory_swap_limit_in_bytes (${swap}) is below memory_limit_in_bytes (${limit}); ` +
        'it counts memory plus swap',
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

function cpuLimits(resources: LinuxContainerResources__Output): OciCpu | null {
  const cpu: OciCpu = {};
  const shares = int64Field(resources.cpuShares, `${FIELD}.cpu_shares`, 0, 262144);
  const quota = int64Field(resources.cpuQuota, `${FIELD}.cpu_quota`, -1, INT64_MAX);
  const period = int64Field(resources.cpuPeriod, `${FIELD}.cpu_period`, 0, 1_000_000);
  if (shares !== 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period !== 0) cpu.period = period;
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
 * The kubelet sends a limit for every page size it found on the node, often
 * 0. Sizes the node's hugetlb controller does not offer are left out: no
 * page of that size can be allocated there anyway, and runc would fail on
 * the missing cgroup file.
 */
function hugepageLimits(resources: LinuxContainerResources__Output, host: LimitFacts): OciHugepageLimit[] | null {
  const limits = resources.hugepageLimits
    .map((entry, i) => ({
      pageSize: entry.pageSize,
      limit: int64Field(entry.limit, `${FIELD}.hugepage_limits[${i}].limit`, 0, INT64_MAX),
    }))
    .filter((entry) => host.hugepageSizes.includes(entry.pageSize));
  return limits.length === 0 ? null : limits;
}

function unifiedLimits(resources: LinuxContainerResources__Output, host: LimitFacts): Record<string, string> | null {
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
  return Object.fromEntries(entries);
}
