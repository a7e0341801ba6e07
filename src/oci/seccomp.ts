import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { ProfileRequest } from './security-profile.js';
import type { OciSeccomp, OciSeccompArg, OciSyscall, SeccompAction, SeccompArchitecture, SeccompFlag, SeccompOperator } from './spec-types.js';

/**
 * The seccomp filter of a container: none, the runtime default compiled for
 * the container's capabilities and the host's architecture, or a Localhost
 * profile read from the node and checked before runc sees it.
 */

/** The architectures crion runs on, in GOARCH terms as image platforms use them. */
export type HostArch = 'amd64' | 'arm64';

/**
 * A rule of a policy. Like Docker's profile format, a rule can depend on the
 * container's capabilities, because a syscall such as mount is harmless
 * without CAP_SYS_ADMIN (the kernel refuses it) but the filter should not
 * get in the way of a container that was granted the capability.
 */
export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: SeccompAction;
  readonly errnoRet?: number;
  readonly args?: readonly OciSeccompArg[];
  /** Only for containers holding at least one of these. */
  readonly ifAnyCapability?: readonly string[];
  /** Only for containers without this one. */
  readonly unlessCapability?: string;
}

export interface SeccompPolicy {
  readonly defaultAction: SeccompAction;
  readonly defaultErrnoRet: number | null;
  /** The native architecture first, then the compat ones whose syscalls the filter must also cover. */
  readonly architectures: Readonly<Record<HostArch, readonly SeccompArchitecture[]>>;
  readonly rules: readonly SeccompRule[];
}

export interface SeccompSupport {
  /** What RuntimeDefault means on this node: normally DEFAULT_SECCOMP_POLICY. */
  readonly runtimeDefault: SeccompPolicy;
}

export interface SeccompInput {
  readonly request: ProfileRequest;
  readonly privileged: boolean;
  /** The container's bounding set, which decides the capability-dependent rules. */
  readonly capabilities: readonly string[];
  readonly arch: HostArch;
  /** null when the kernel has no seccomp. */
  readonly support: SeccompSupport | null;
  readonly readProfile: (path: string) => string;
  readonly field: string;
}

/**
 * null means no filter. Privileged containers never get one, whatever was
 * asked (critest checks that a privileged container ignores a profile that
 * blocks sethostname). An unset request is unconfined, as CRI defines it:
 * the kubelet sends RuntimeDefault itself when the pod or node asks for it.
 */
export function seccompFor(input: SeccompInput): OciSeccomp | null {
  const { request } = input;
  if (input.privileged || request.kind === 'unset' || request.kind === 'unconfined') return null;
  if (input.support === null) {
    throw new FailedPreconditionError(`${input.field}: this node's kernel has no seccomp support`);
  }
  if (request.kind === 'runtime-default') {
    return compileSeccompPolicy(input.support.runtimeDefault, input.capabilities, input.arch);
  }
  if (!path.posix.isAbsolute(request.ref)) {
    throw new InvalidArgumentError(`${input.field}: Localhost profile "${request.ref}" must be an absolute path`);
  }
  let text: string;
  try {
    text = input.readProfile(request.ref);
  } catch (error) {
    throw new InvalidArgumentError(`${input.field}: cannot read seccomp profile "${request.ref}": ${(error as Error).message ?? String(error)}`, {
      cause: error,
    });
  }
  return parseSeccompProfile(text, `seccomp profile "${request.ref}"`);
}

export function compileSeccompPolicy(policy: SeccompPolicy, capabilities: readonly string[], arch: HostArch): OciSeccomp {
  const held = new Set(capabilities);
  const syscalls: OciSyscall[] = [];
  for (const rule of policy.rules) {
    if (rule.ifAnyCapability !== undefined && !rule.ifAnyCapability.some((cap) => held.has(cap))) continue;
    if (rule.unlessCapability !== undefined && held.has(rule.unlessCapability)) continue;
    const syscall: OciSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) syscall.errnoRet = rule.errnoRet;
    if (rule.args !== undefined) syscall.args = rule.args.map((arg) => ({ ...arg }));
    syscalls.push(syscall);
  }
  const seccomp: OciSeccomp = {
    defaultAction: policy.defaultAction,
    architectures: [...policy.architectures[arch]],
    syscalls,
  };
  if (policy.defaultErrnoRet !== null) seccomp.defaultErrnoRet = policy.defaultErrnoRet;
  return seccomp;
}

const ACTIONS: ReadonlySet<string> = new Set<SeccompAction>([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);

const OPERATORS: ReadonlySet<string> = new Set<SeccompOperator>([
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
]);

const ARCHITECTURES: ReadonlySet<string> = new Set<SeccompArchitecture>([
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64',
  'SCMP_ARCH_RISCV64',
  'SCMP_ARCH_LOONGARCH64',
]);

const FLAGS: ReadonlySet<string> = new Set<SeccompFlag>([
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
]);

/**
 * A Localhost profile in the OCI format (what the kubelet documents and
 * containerd loads). Docker's format is the same document plus `archMap`
 * and per-rule `includes`/`excludes`: the extra keys are ignored, but a
 * rule with conditions is refused, since applying it unconditionally would
 * not mean what its author wrote.
 */
export function parseSeccompProfile(text: string, source: string): OciSeccomp {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`${source} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const invalid = (where: string, why: string): InvalidArgumentError => new InvalidArgumentError(`${source}: ${where} ${why}`);
  const profile = asObject(document, 'the document', invalid);
  const seccomp: OciSeccomp = { defaultAction: member(profile.defaultAction, ACTIONS, 'defaultAction', invalid) };
  if (profile.defaultErrnoRet !== undefined && profile.defaultErrnoRet !== null) {
    seccomp.defaultErrnoRet = errno(profile.defaultErrnoRet, 'defaultErrnoRet', invalid);
  }
  if (profile.architectures !== undefined && profile.architectures !== null) {
    seccomp.architectures = asArray(profile.architectures, 'architectures', invalid).map((value, i) =>
      member(value, ARCHITECTURES, `architectures[${i}]`, invalid),
    );
  }
  if (profile.flags !== undefined && profile.flags !== null) {
    seccomp.flags = asArray(profile.flags, 'flags', invalid).map((value, i) => member(value, FLAGS, `flags[${i}]`, invalid));
  }
  if (profile.syscalls !== undefined && profile.syscalls !== null) {
    seccomp.syscalls = asArray(profile.syscalls, 'syscalls', invalid).map((value, i) => syscallRule(value, `syscalls[${i}]`, invalid));
  }
  return seccomp;
}

type Invalid = (where: string, why: string) => InvalidArgumentError;

function syscallRule(value: unknown, where: string, invalid: Invalid): OciSyscall {
  const rule = asObject(value, where, invalid);
  for (const key of ['includes', 'excludes']) {
    const condition = rule[key];
    if (condition === undefined || condition === null) continue;
    if (Object.keys(asObject(condition, `${where}.${key}`, invalid)).length > 0) {
      throw invalid(`${where}.${key}`, 'is a Docker profile condition, which the OCI format crion reads does not have');
    }
  }
  let names: string[];
  if (rule.names !== undefined && rule.names !== null) {
    names = asArray(rule.names, `${where}.names`, invalid).map((name, i) => {
      if (typeof name !== 'string' || name === '') throw invalid(`${where}.names[${i}]`, 'must be a syscall name');
      return name;
    });
  } else if (typeof rule.name === 'string' && rule.name !== '') {
    // The single-name form of older Docker profiles.
    names = [rule.name];
  } else {
    throw invalid(where, 'names no syscalls');
  }
  if (names.length === 0) throw invalid(`${where}.names`, 'is empty');
  const syscall: OciSyscall = { names, action: member(rule.action, ACTIONS, `${where}.action`, invalid) };
  if (rule.errnoRet !== undefined && rule.errnoRet !== null) {
    syscall.errnoRet = errno(rule.errnoRet, `${where}.errnoRet`, invalid);
  }
  if (rule.args !== undefined && rule.args !== null) {
    syscall.args = asArray(rule.args, `${where}.args`, invalid).map((arg, i) => syscallArg(arg, `${where}.args[${i}]`, invalid));
  }
  return syscall;
}

function syscallArg(value: unknown, where: string, invalid: Invalid): OciSeccompArg {
  const arg = asObject(value, where, invalid);
  const index = arg.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5) {
    throw invalid(`${where}.index`, 'must be an argument index from 0 to 5');
  }
  const result: OciSeccompArg = {
    index,
    value: unsigned(arg.value, `${where}.value`, invalid),
    op: member(arg.op, OPERATORS, `${where}.op`, invalid),
  };
  if (arg.valueTwo !== undefined && arg.valueTwo !== null) {
    result.valueTwo = unsigned(arg.valueTwo, `${where}.valueTwo`, invalid);
  }
  return result;
}

function asObject(value: unknown, where: string, invalid: Invalid): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(where, 'must be an object');
  return value as Record<string, unknown>;
}

function asArray(value: unknown, where: string, invalid: Invalid): unknown[] {
  if (!Array.isArray(value)) throw invalid(where, 'must be an array');
  return value;
}

function member<T extends string>(value: unknown, allowed: ReadonlySet<string>, where: string, invalid: Invalid): T {
  if (typeof value !== 'string' || !allowed.has(value)) {
    throw invalid(where, `must be one of ${[...allowed].join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function unsigned(value: unknown, where: string, invalid: Invalid): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(where, 'must be a non-negative integer');
  }
  return value;
}

function errno(value: unknown, where: string, invalid: Invalid): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 4095) {
    throw invalid(where, 'must be an errno from 0 to 4095');
  }
  return value;
}
