/**
 * The part of the OCI runtime spec (config.json, runtime-spec v1.0.2) that
 * crion writes, typed. Optional properties are `?:` rather than `| null`
 * because config.json encodes "not set" by leaving the key out: runc reads a
 * JSON null as unset, but crun's parser rejects null where it expects a
 * string or an object, so a key crion does not set must not appear at all.
 */

export const OCI_VERSION = '1.0.2';

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: OciRoot;
  hostname?: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: OciLinux;
}

export interface OciProcess {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
}

export interface OciUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  inheritable: string[];
  permitted: string[];
  ambient: string[];
}

export interface OciRlimit {
  /** `RLIMIT_NOFILE`, `RLIMIT_NPROC`, … */
  type: string;
  hard: number;
  soft: number;
}

export interface OciRoot {
  path: string;
  readonly: boolean;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface OciNamespace {
  type: OciNamespaceType;
  /** Join the namespace at this path; without one the runtime creates a new namespace. */
  path?: string;
}

export type OciRootfsPropagation = 'rprivate' | 'rslave' | 'rshared';

export interface OciLinux {
  namespaces: OciNamespace[];
  devices: OciDevice[];
  cgroupsPath: string;
  resources: OciResources;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  rootfsPropagation?: OciRootfsPropagation;
  maskedPaths: string[];
  readonlyPaths: string[];
}

export type OciDeviceType = 'c' | 'b';

export interface OciDevice {
  path: string;
  type: OciDeviceType;
  major: number;
  minor: number;
  /** Permission bits of the node the runtime creates. */
  fileMode: number;
  uid: number;
  gid: number;
}

export interface OciDeviceCgroup {
  allow: boolean;
  /** Absent: every type. */
  type?: OciDeviceType;
  /** Absent: every major (or minor) number. */
  major?: number;
  minor?: number;
  /** Some of `r`, `w`, `m`. */
  access: string;
}

export interface OciResources {
  devices: OciDeviceCgroup[];
  memory?: OciMemory;
  cpu?: OciCpu;
  hugepageLimits?: OciHugepageLimit[];
  /** cgroup v2 files and their values, written as they are. */
  unified?: Record<string, string>;
}

export interface OciMemory {
  limit?: number;
  /** Memory plus swap, as cgroup v1 counts it; -1 is unlimited. */
  swap?: number;
}

export interface OciCpu {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}

export interface OciHugepageLimit {
  /** `2MB`, `1GB`: the hugetlb cgroup's file name infix. */
  pageSize: string;
  limit: number;
}

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator = 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';

export type SeccompArchitecture =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64'
  | 'SCMP_ARCH_LOONGARCH64';

export type SeccompFlag =
  'SECCOMP_FILTER_FLAG_TSYNC' | 'SECCOMP_FILTER_FLAG_LOG' | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW' | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: SeccompArchitecture[];
  flags?: SeccompFlag[];
  syscalls?: OciSyscall[];
}

export interface OciSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  /** All must hold for the rule to match. */
  args?: OciSeccompArg[];
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}
