import type { PodSandboxConfig__Output } from '../generated/runtime/v1/PodSandboxConfig.js';
import type { CgroupLayout } from '../native/index.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import type { HostArch, SeccompSupport } from './seccomp.js';
import type { OciDeviceType, OciRlimit } from './spec-types.js';

/**
 * The facts a spec is built from besides the CRI request: the pod as crion
 * set it up, the node, and the few lookups that touch the host. Everything
 * is passed in, so building a spec is a pure function of its inputs.
 */

/** A pod as crion set it up. */
export interface SandboxContext {
  readonly id: string;
  /** The RunPodSandbox request's config; its namespace options decide host vs pod namespaces. */
  readonly config: PodSandboxConfig__Output;
  readonly namespaces: PodNamespacePaths;
  readonly files: SandboxFiles;
  /** The CRI runtime handler the pod runs with ('' for the default one). */
  readonly runtimeHandler: string;
}

/**
 * Where the pod's namespaces live. A path is used only when the pod's
 * config asks for that namespace to be the pod's (not the node's).
 */
export interface PodNamespacePaths {
  /** The pinned network namespace file, e.g. /run/crion/ns/<pod>/net. */
  readonly network: string | null;
  readonly ipc: string | null;
  readonly uts: string | null;
  /**
   * The PID namespace the containers join when the pod shares one (the pod
   * init's pin, or /proc/<pid>/ns/pid of a pause container); null while
   * nothing holds it. A PID namespace cannot be kept by pinning alone: once
   * its first process exits nothing new can start in it.
   */
  readonly pid: string | null;
}

/** Files crion keeps per pod and binds into each container; null leaves the image's own. */
export interface SandboxFiles {
  readonly hosts: string | null;
  readonly resolvConf: string | null;
  readonly hostname: string | null;
  /** The pod's /dev/shm tmpfs; null gives each container a private one (host IPC binds the node's). */
  readonly shm: string | null;
}

/** What crion knows about the node; what the pod's OCI runtime handler can do is ContainerSpecInput.handler. */
export interface HostFacts {
  readonly arch: HostArch;
  /** The node's hostname, for pods on the host network that do not name one. */
  readonly hostname: string;
  readonly cgroupDriver: CgroupDriver;
  readonly cgroupLayout: CgroupLayout;
  /**
   * The daemon's own oom_score_adj when it may not go lower (no
   * CAP_SYS_RESOURCE, or restrict_oom_score_adj set): requests below it are
   * raised to it instead of failing in runc. null when any value may be set.
   */
  readonly oomScoreAdjFloor: number | null;
  /** crion's own capability bounding set: what privileged containers and `ALL` get. */
  readonly capabilities: readonly string[];
  /** null when AppArmor is not enabled on the node. */
  readonly apparmor: { readonly defaultProfile: string } | null;
  /** null when the kernel lacks seccomp. */
  readonly seccomp: SeccompSupport | null;
  /**
   * The cgroup controllers the OCI runtime can set limits through: those
   * with a mounted v1 hierarchy on a v1 or hybrid node (runc's v1 driver
   * uses nothing else), the root's `cgroup.controllers` on v2.
   */
  readonly cgroupControllers: readonly string[];
  /** Huge page sizes the kernel has (`2MB`, `1GB`), the names CRI's hugepage limits use. */
  readonly hugepageSizes: readonly string[];
  /** runtime.tolerate_missing_hugetlb_controller: leave hugepage limits out, rather than refuse them, without a hugetlb controller. */
  readonly tolerateMissingHugetlbController: boolean;
  /** The memory controller accounts swap (memory.memsw.* on v1, memory.swap.max on v2). */
  readonly swapAccounting: boolean;
  /**
   * Resource limits every container starts with. Empty leaves the limits
   * crion's OCI runtime inherits, as containerd does; a fixed RLIMIT_NOFILE
   * of 1024 (the old OCI default) broke servers that expect more.
   */
  readonly defaultRlimits: readonly OciRlimit[];
}

export interface HostDevice {
  /** Where the node has it. */
  readonly path: string;
  readonly type: OciDeviceType;
  readonly major: number;
  readonly minor: number;
  /** Permission bits only. */
  readonly fileMode: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The host lookups a spec needs. They are synchronous because each is one
 * small stat or read, and keeping them so keeps spec building a plain
 * function; tests pass tables.
 */
export interface HostLookups {
  /** stat(2), following symlinks; null when the path is missing or not a device node. */
  statDevice(path: string): HostDevice | null;
  /** Every device node of the node's /dev, which privileged containers get. */
  listHostDevices(): readonly HostDevice[];
  /** A bind mount source with symlinks resolved (CRI says to follow them); null when it does not exist. */
  realpath(path: string): string | null;
  /** The text of a Localhost seccomp profile; throws when it cannot be read. */
  readProfile(path: string): string;
}
