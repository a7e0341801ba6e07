import path from 'node:path';
import { flatKeyed, parseCounter, parseLimit, readOptional } from './cgroup-files.js';
import { controllerDir, readCgroupUsage, type CgroupHierarchies, type CgroupUsage } from './cgroup-usage.js';

/**
 * What the cAdvisor-named metrics (ListPodSandboxMetrics) report of a
 * cgroup beyond the CRI stats' usage: CPU split into user and system time,
 * CFS throttling, the limits the cgroup runs under, memory limit hits and
 * OOM kills, swap, and its process and thread counts. Read from cgroup v1
 * or v2, whichever holds each controller, as cgroup-usage.ts reads the
 * usage; anything the host or the cgroup lacks is null.
 */

export interface CpuDetail {
  readonly userNanos: bigint | null;
  readonly systemNanos: bigint | null;
  /** CFS enforcement periods elapsed, those throttled, and the time throttled; null without the cpu controller. */
  readonly periods: bigint | null;
  readonly throttledPeriods: bigint | null;
  readonly throttledNanos: bigint | null;
}

export interface CpuSpec {
  /** v1 cpu.shares, or v2 cpu.weight turned back into shares as the kubelet and cAdvisor do. */
  readonly shares: bigint | null;
  /** null when the cgroup has no quota. */
  readonly quotaMicros: bigint | null;
  readonly periodMicros: bigint | null;
}

export interface CgroupDetail {
  readonly usage: CgroupUsage;
  readonly cpu: CpuDetail | null;
  readonly cpuSpec: CpuSpec | null;
  /** How often usage hit the limit: v1 memory.failcnt, v2 memory.events `max`. */
  readonly memoryFailcnt: bigint | null;
  readonly oomKills: bigint | null;
  readonly swapBytes: bigint | null;
  /** v1 memory.kmem.usage_in_bytes, v2 memory.stat `kernel`. */
  readonly kernelBytes: bigint | null;
  /** The usage's high-water mark: v1 memory.max_usage_in_bytes, v2 memory.peak (Linux 5.19+). */
  readonly maxUsageBytes: bigint | null;
  /** v1 memory.memsw.limit_in_bytes (memory and swap together), v2 memory.swap.max; null without a limit. */
  readonly swapLimitBytes: bigint | null;
  /** The PIDs in cgroup.procs, for the per-process figures (open files, sockets). */
  readonly pids: readonly number[];
  readonly processCount: bigint | null;
  /** pids.max; null without a limit. */
  readonly threadsMax: bigint | null;
}

/** USER_HZ, the unit of v1 cpuacct.stat: 100 on every architecture Linux exports it for. */
const NANOS_PER_USER_HZ_TICK = 10_000_000n;

export async function readCgroupDetail(hierarchies: CgroupHierarchies, dir: string): Promise<CgroupDetail> {
  const [usage, cpu, memory, pids] = await Promise.all([
    readCgroupUsage(hierarchies, dir),
    readCpu(hierarchies, dir),
    readMemoryEvents(hierarchies, dir),
    readPids(hierarchies, dir),
  ]);
  const swapBytes =
    memory.swapTotalBytes === null || usage.memory === null ? memory.swapBytes : positive(memory.swapTotalBytes - usage.memory.usageBytes);
  return {
    usage,
    cpu: cpu.detail,
    cpuSpec: cpu.spec,
    memoryFailcnt: memory.failcnt,
    oomKills: memory.oomKills,
    swapBytes,
    kernelBytes: memory.kernelBytes,
    maxUsageBytes: memory.maxUsageBytes,
    swapLimitBytes: memory.swapLimitBytes,
    pids: pids.pids ?? [],
    processCount: pids.pids === null ? null : BigInt(pids.pids.length),
    threadsMax: pids.threadsMax,
  };
}

async function readCpu(hierarchies: CgroupHierarchies, dir: string): Promise<{ detail: CpuDetail | null; spec: CpuSpec | null }> {
  const cpu = controllerDir(hierarchies, 'cpu', dir);
  if (cpu?.version === 1) {
    const cpuacct = controllerDir(hierarchies, 'cpuacct', dir);
    const [times, stat, shares, quota, period] = await Promise.all([
      cpuacct === null ? null : readOptional(path.join(cpuacct.path, 'cpuacct.stat')),
      readOptional(path.join(cpu.path, 'cpu.stat')),
      readOptional(path.join(cpu.path, 'cpu.shares')),
      readOptional(path.join(cpu.path, 'cpu.cfs_quota_us')),
      readOptional(path.join(cpu.path, 'cpu.cfs_period_us')),
    ]);
    const ticks = flatKeyed(times);
    const throttling = flatKeyed(stat);
    const scaled = (value: bigint | undefined) => (value === undefined ? null : value * NANOS_PER_USER_HZ_TICK);
    return {
      detail: {
        userNanos: scaled(ticks?.get('user')),
        systemNanos: scaled(ticks?.get('system')),
        periods: throttling?.get('nr_periods') ?? null,
        throttledPeriods: throttling?.get('nr_throttled') ?? null,
        throttledNanos: throttling?.get('throttled_time') ?? null,
      },
      // cfs_quota_us is -1 without a quota, which parseCounter reads as null.
      spec: { shares: parseCounter(shares), quotaMicros: parseCounter(quota), periodMicros: parseCounter(period) },
    };
  }
  // v2: cpu.stat's usage, user and system lines are in every cgroup; the throttling lines and
  // cpu.weight/cpu.max only where the cpu controller is enabled.
  const core = controllerDir(hierarchies, 'cpu', dir, true);
  if (core === null) return { detail: null, spec: null };
  const enabled = cpu !== null;
  const [stat, weight, max] = await Promise.all([
    readOptional(path.join(core.path, 'cpu.stat')),
    enabled ? readOptional(path.join(core.path, 'cpu.weight')) : null,
    enabled ? readOptional(path.join(core.path, 'cpu.max')) : null,
  ]);
  const keyed = flatKeyed(stat);
  const micros = (key: string) => {
    const value = keyed?.get(key);
    return value === undefined ? null : value * 1000n;
  };
  const [quota, period] = max?.trim().split(/\s+/) ?? [];
  const weightValue = parseCounter(weight);
  return {
    detail:
      keyed === null
        ? null
        : {
            userNanos: micros('user_usec'),
            systemNanos: micros('system_usec'),
            periods: keyed.get('nr_periods') ?? null,
            throttledPeriods: keyed.get('nr_throttled') ?? null,
            throttledNanos: micros('throttled_usec'),
          },
    spec: enabled
      ? {
          // The inverse of the shares-to-weight mapping runc applies (weight = 1 + (shares - 2) * 9999 / 262142).
          shares: weightValue === null ? null : 2n + ((weightValue - 1n) * 262142n) / 9999n,
          quotaMicros: parseCounter(quota ?? null),
          periodMicros: parseCounter(period ?? null),
        }
      : null,
  };
}

interface MemoryEvents {
  readonly failcnt: bigint | null;
  readonly oomKills: bigint | null;
  /** v2: memory.swap.current. */
  readonly swapBytes: bigint | null;
  /** v1: memory and swap together (memsw), from which the swap is the part above the memory usage. */
  readonly swapTotalBytes: bigint | null;
  readonly kernelBytes: bigint | null;
  readonly maxUsageBytes: bigint | null;
  readonly swapLimitBytes: bigint | null;
}

const NO_MEMORY_EVENTS: MemoryEvents = {
  failcnt: null,
  oomKills: null,
  swapBytes: null,
  swapTotalBytes: null,
  kernelBytes: null,
  maxUsageBytes: null,
  swapLimitBytes: null,
};

async function readMemoryEvents(hierarchies: CgroupHierarchies, dir: string): Promise<MemoryEvents> {
  const memory = controllerDir(hierarchies, 'memory', dir);
  if (memory === null) return NO_MEMORY_EVENTS;
  const read = (file: string) => readOptional(path.join(memory.path, file));
  if (memory.version === 1) {
    const [failcnt, oomControl, memsw, memswLimit, kmem, maxUsage] = await Promise.all([
      read('memory.failcnt'),
      read('memory.oom_control'),
      // The memsw files only with swap accounting on (swapaccount=1).
      read('memory.memsw.usage_in_bytes'),
      read('memory.memsw.limit_in_bytes'),
      read('memory.kmem.usage_in_bytes'),
      read('memory.max_usage_in_bytes'),
    ]);
    return {
      failcnt: parseCounter(failcnt),
      // oom_kill since Linux 4.13.
      oomKills: flatKeyed(oomControl)?.get('oom_kill') ?? null,
      swapBytes: null,
      swapTotalBytes: parseCounter(memsw),
      kernelBytes: parseCounter(kmem),
      maxUsageBytes: parseCounter(maxUsage),
      swapLimitBytes: parseLimit(memswLimit),
    };
  }
  const [events, swap, swapMax, stat, peak] = await Promise.all([
    read('memory.events'),
    read('memory.swap.current'),
    read('memory.swap.max'),
    read('memory.stat'),
    read('memory.peak'),
  ]);
  const keyed = flatKeyed(events);
  return {
    failcnt: keyed?.get('max') ?? null,
    oomKills: keyed?.get('oom_kill') ?? null,
    swapBytes: parseCounter(swap),
    swapTotalBytes: null,
    kernelBytes: flatKeyed(stat)?.get('kernel') ?? null,
    maxUsageBytes: parseCounter(peak),
    swapLimitBytes: parseLimit(swapMax),
  };
}

async function readPids(hierarchies: CgroupHierarchies, dir: string): Promise<{ pids: number[] | null; threadsMax: bigint | null }> {
  const pids = controllerDir(hierarchies, 'pids', dir);
  // cgroup.procs is in every cgroup of every hierarchy: the pids one, else any v1 one, else v2's.
  const procsDir = pids ?? controllerDir(hierarchies, 'memory', dir) ?? controllerDir(hierarchies, 'cpu', dir, true);
  const [max, procs] = await Promise.all([
    pids === null ? null : readOptional(path.join(pids.path, 'pids.max')),
    procsDir === null ? null : readOptional(path.join(procsDir.path, 'cgroup.procs')),
  ]);
  return {
    pids: procs === null ? null : procs.split('\n').flatMap((line) => (/^\d+$/.test(line.trim()) ? [Number(line.trim())] : [])),
    threadsMax: parseLimit(max),
  };
}

function positive(value: bigint): bigint {
  return value > 0n ? value : 0n;
}
