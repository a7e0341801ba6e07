import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { Capability__Output } from '../generated/runtime/v1/Capability.js';
import type { OciCapabilities } from './spec-types.js';

/** Every capability Linux defines, indexed by its bit number (linux/capability.h). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/**
 * What an unprivileged container gets: Docker's default set, which
 * containerd 1.x and CRI-O also start from, so images that work under them
 * (ping needs NET_RAW, package managers need CHOWN/FOWNER/SETFCAP) work here.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * The names of the bits set in a capability mask such as CapBnd in
 * /proc/self/status, which is how the daemon learns what it may hand out.
 */
export function capabilitiesFromMask(mask: bigint): string[] {
  return ALL_CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

const FIELD = 'linux.security_context.capabilities';

/**
 * The capability sets of a container's process. Adds and drops apply the
 * way containerd applies them: `ALL` in add, then `ALL` in drop, then the
 * named adds, then the named drops, so add ALL + drop CHOWN is everything
 * but CHOWN and drop ALL + add NET_ADMIN is NET_ADMIN alone. Names are
 * case-insensitive, with or without `CAP_`.
 *
 * `available` is crion's own bounding set: a privileged container or `ALL`
 * gets exactly that, and asking for a capability outside it fails here
 * rather than in runc's capset at start.
 */
export function containerCapabilities(request: Capability__Output | null, privileged: boolean, available: readonly string[]): OciCapabilities {
  const held = new Set(available);
  if (privileged) {
    const all = ALL_CAPABILITIES.filter((cap) => held.has(cap));
    return capabilitySets(all, []);
  }

  const names = (list: readonly string[] | undefined, field: string, allowAll: boolean): string[] =>
    (list ?? []).map((name) => capabilityName(name, `${FIELD}.${field}`, allowAll));
  const add = names(request?.addCapabilities, 'add_capabilities', true);
  const drop = names(request?.dropCapabilities, 'drop_capabilities', true);
  const ambient = names(request?.addAmbientCapabilities, 'add_ambient_capabilities', false);

  let granted = new Set(DEFAULT_CAPABILITIES.filter((cap) => held.has(cap)));
  if (add.includes('ALL')) granted = new Set(held);
  if (drop.includes('ALL')) granted = new Set();
  for (const cap of add) {
    if (cap === 'ALL') continue;
    if (!held.has(cap)) {
      throw new FailedPreconditionError(`${FIELD}.add_capabilities: ${cap} is outside crion's own capability bounding set`);
    }
    granted.add(cap);
  }
  for (const cap of drop) granted.delete(cap);
  for (const cap of ambient) {
    if (drop.includes(cap)) {
      throw new InvalidArgumentError(`${FIELD}: ${cap} is both dropped and added as ambient`);
    }
    if (!held.has(cap)) {
      throw new FailedPreconditionError(`${FIELD}.add_ambient_capabilities: ${cap} is outside crion's own capability bounding set`);
    }
    // The kernel keeps an ambient capability only while it is also permitted and inheritable.
    granted.add(cap);
  }
  return capabilitySets(
    ALL_CAPABILITIES.filter((cap) => granted.has(cap)),
    ALL_CAPABILITIES.filter((cap) => ambient.includes(cap)),
  );
}

function capabilitySets(granted: string[], ambient: string[]): OciCapabilities {
  return {
    bounding: granted,
    effective: [...granted],
    permitted: [...granted],
    inheritable: [...ambient],
    ambient: [...ambient],
  };
}

function capabilityName(name: string, field: string, allowAll: boolean): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') {
    if (allowAll) return 'ALL';
    throw new InvalidArgumentError(`${field}: ALL cannot be ambient; name the capabilities`);
  }
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) throw new InvalidArgumentError(`${field}: unknown capability "${name}"`);
  return full;
}
