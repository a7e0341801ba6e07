import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { CrionConfig } from '../config/index.js';
import type { HostProbe } from '../native/index.js';
import { capabilitiesFromMask, DEFAULT_SECCOMP_POLICY, type HostDevice, type HostFacts, type HostLookups } from '../oci/index.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';

/**
 * What the OCI spec generator needs to know about this node, read once at
 * start: the pure functions in src/oci take it as input rather than
 * looking at the host themselves.
 */
export function nodeFacts(probe: HostProbe, config: CrionConfig, cgroupDriver: CgroupDriver): HostFacts {
  const restrict = config.runtime.restrictOomScoreAdj === 'auto' ? !probe.oomScoreAdj.lowering.available : config.runtime.restrictOomScoreAdj;
  return {
    arch: process.arch === 'arm64' ? 'arm64' : 'amd64',
    hostname: hostname(),
    cgroupDriver,
    cgroupLayout: probe.cgroups.layout ?? 'v1',
    // Without CAP_SYS_RESOURCE the daemon cannot lower oom_score_adj below its own, and neither can its children.
    oomScoreAdjFloor: restrict ? probe.oomScoreAdj.current : null,
    capabilities: capabilitiesFromMask(boundingSet()),
    apparmor: null,
    seccomp: existsSync('/proc/sys/kernel/seccomp/actions_avail') ? { runtimeDefault: DEFAULT_SECCOMP_POLICY } : null,
    cgroupControllers: cgroupControllers(probe),
    hugepageSizes: hugepageSizes(),
    tolerateMissingHugetlbController: config.runtime.tolerateMissingHugetlbController,
    swapAccounting: swapAccounting(probe),
    defaultRlimits: [],
  };
}

function boundingSet(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
  return BigInt(`0x${hex}`);
}

function cgroupControllers(probe: HostProbe): string[] {
  if (probe.cgroups.layout === 'v2') return [...(probe.cgroups.v2?.controllers ?? [])];
  return probe.cgroups.v1Controllers.map((controller) => controller.name);
}

/** `hugepages-2048kB` → `2MB`, the names CRI's hugepage limits use. */
function hugepageSizes(): string[] {
  try {
    return readdirSync('/sys/kernel/mm/hugepages').flatMap((name) => {
      const kib = Number(/^hugepages-(\d+)kB$/.exec(name)?.[1]);
      if (!Number.isFinite(kib)) return [];
      return [kib >= 1024 * 1024 ? `${kib / (1024 * 1024)}GB` : kib >= 1024 ? `${kib / 1024}MB` : `${kib}KB`];
    });
  } catch {
    return [];
  }
}

function swapAccounting(probe: HostProbe): boolean {
  const memory = probe.cgroups.v1Controllers.find((controller) => controller.name === 'memory');
  if (memory) return existsSync(path.join(memory.mountPoint, 'memory.memsw.limit_in_bytes'));
  return probe.cgroups.v2 !== null && existsSync(path.join(probe.cgroups.v2.mountPoint, 'memory.swap.max'));
}

export const nodeLookups: HostLookups = {
  statDevice(devicePath) {
    try {
      return deviceOf(devicePath);
    } catch {
      return null;
    }
  },
  listHostDevices() {
    const devices: HostDevice[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        // /dev/pts belongs to each container's own devpts instance.
        if (entry.isDirectory() && full !== '/dev/pts') walk(full);
        else if (entry.isCharacterDevice() || entry.isBlockDevice()) devices.push(deviceOf(full));
      }
    };
    walk('/dev');
    return devices;
  },
  realpath(target) {
    try {
      return realpathSync(target);
    } catch {
      return null;
    }
  },
  readProfile(profilePath) {
    return readFileSync(profilePath, 'utf8');
  },
};

function deviceOf(devicePath: string): HostDevice {
  const stats = statSync(devicePath);
  if (!stats.isCharacterDevice() && !stats.isBlockDevice()) throw new Error(`${devicePath} is not a device`);
  const rdev = stats.rdev;
  return {
    path: devicePath,
    type: stats.isCharacterDevice() ? 'c' : 'b',
    // Linux's dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
    major: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    fileMode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
  };
}
