import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { Mount__Output } from '../generated/runtime/v1/Mount.js';
import type { HostLookups, SandboxFiles } from './spec-inputs.js';
import type { FeatureSupport } from '../runtime/handler-features.js';
import type { OciMount, OciRootfsPropagation } from './spec-types.js';

/**
 * The mounts of a container, in the order runc performs them: the kernel
 * filesystems every container gets, the pod's files (hosts, resolv.conf,
 * hostname, /dev/shm), then the CRI mounts. A CRI mount replaces a default
 * or pod file with the same destination, and a CRI mount of /dev replaces
 * everything under /dev. The list is sorted by depth so that a parent is
 * mounted before what goes inside it.
 */

const PROC: OciMount = { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] };
const DEV: OciMount = {
  destination: '/dev',
  type: 'tmpfs',
  source: 'tmpfs',
  options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
};
const DEV_PTS: OciMount = {
  destination: '/dev/pts',
  type: 'devpts',
  source: 'devpts',
  options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
};
const DEV_SHM: OciMount = {
  destination: '/dev/shm',
  type: 'tmpfs',
  source: 'shm',
  options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
};
const DEV_MQUEUE: OciMount = {
  destination: '/dev/mqueue',
  type: 'mqueue',
  source: 'mqueue',
  options: ['nosuid', 'noexec', 'nodev'],
};

/** The kernel filesystems; sysfs and cgroupfs are read-only unless the container is privileged. */
export function defaultMounts(privileged: boolean): OciMount[] {
  const access = privileged ? 'rw' : 'ro';
  return [
    PROC,
    DEV,
    DEV_PTS,
    DEV_SHM,
    DEV_MQUEUE,
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', access] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', access],
    },
  ].map((mount) => ({ ...mount, options: [...mount.options] }));
}

export interface PodFileMountInput {
  readonly files: SandboxFiles;
  /** The pod uses the node's IPC namespace, so /dev/shm is the node's. */
  readonly hostIpc: boolean;
  /** The pod's files follow a read-only rootfs, as in containerd: such a container should not rewrite them. */
  readonly readonly: boolean;
}

/** The per-pod files bound into every container of the pod. */
export function podFileMounts(input: PodFileMountInput): OciMount[] {
  const mounts: OciMount[] = [];
  const access = input.readonly ? 'ro' : 'rw';
  const bind = (destination: string, source: string, mode: string): OciMount => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'rprivate', mode],
  });
  if (input.files.hosts !== null) mounts.push(bind('/etc/hosts', input.files.hosts, access));
  if (input.files.resolvConf !== null) mounts.push(bind('/etc/resolv.conf', input.files.resolvConf, access));
  if (input.files.hostname !== null) mounts.push(bind('/etc/hostname', input.files.hostname, access));
  const shm = input.hostIpc ? '/dev/shm' : input.files.shm;
  if (shm !== null) mounts.push(bind('/dev/shm', shm, 'rw'));
  return mounts;
}

export interface CriMountInput {
  readonly requested: readonly Mount__Output[];
  /** Whether the pod's runtime handler, on this kernel, can make bind mounts read-only recursively, and if not why. */
  readonly recursiveReadOnly: FeatureSupport;
  /** The pod's runtime handler, named when it cannot. */
  readonly runtimeHandler: string;
  readonly realpath: HostLookups['realpath'];
  /** By mount index: the host path of each image mount's image (or of its sub-path), mounted read-only before the spec is made. */
  readonly imageSources: ReadonlyMap<number, string>;
}

export interface ContainerMounts {
  readonly mounts: OciMount[];
  /** Set when a mount propagates from the host: the rootfs must then not be private. */
  readonly rootfsPropagation: OciRootfsPropagation | null;
}

/** Options a pod may add to its bind mounts (CRI mount_options): flags that only take rights away or change atime. */
// Laid out by hand, one line for the rights and one for atime (the formatter would put one per line).
// prettier-ignore
const EXTRA_OPTIONS: ReadonlySet<string> = new Set([
  'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec',
  'noatime', 'atime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'nodiratime', 'diratime',
]);

/**
 * The full mount list: the defaults, the pod's files over them, the CRI
 * mounts over both (null for an infra process, which has none).
 */
export function assembleMounts(defaults: readonly OciMount[], podFiles: readonly OciMount[], cri: CriMountInput | null): ContainerMounts {
  let rootfsPropagation: OciRootfsPropagation | null = null;
  const converted = cri === null ? [] : cri.requested.map((mount, i) => criMount(mount, i, cri));
  for (const { propagation } of converted) {
    if (propagation === 'rshared') rootfsPropagation = 'rshared';
    else if (propagation === 'rslave' && rootfsPropagation === null) rootfsPropagation = 'rslave';
  }
  const requested = converted.map(({ mount }) => mount);
  const seen = new Set<string>();
  requested.forEach((mount, i) => {
    if (seen.has(mount.destination)) {
      throw new InvalidArgumentError(`mounts[${i}].container_path "${mount.destination}" is mounted twice`);
    }
    seen.add(mount.destination);
  });
  return { mounts: sortByDepth(overlay(overlay(defaults, podFiles), requested)), rootfsPropagation };
}

/** `base` without what `overrides` replaces, then `overrides`; a mount of /dev replaces everything under it. */
function overlay(base: readonly OciMount[], overrides: readonly OciMount[]): OciMount[] {
  const destinations = new Set(overrides.map((mount) => mount.destination));
  const replacesDev = destinations.has('/dev');
  const kept = base.filter((mount) => !destinations.has(mount.destination) && !(replacesDev && mount.destination.startsWith('/dev/')));
  return [...kept, ...overrides];
}

function criMount(mount: Mount__Output, index: number, input: CriMountInput): { mount: OciMount; propagation: 'rprivate' | 'rslave' | 'rshared' } {
  const field = `mounts[${index}]`;
  if (mount.uidMappings.length > 0 || mount.gidMappings.length > 0) {
    throw new InvalidArgumentError(`${field}: ID-mapped mounts need user namespaces, which crion does not support yet`);
  }
  if (!path.posix.isAbsolute(mount.containerPath)) {
    throw new InvalidArgumentError(`${field}.container_path "${mount.containerPath}" is not an absolute path`);
  }
  const image = mount.image !== null;
  const source = image ? imageSource(index, input) : hostSource(mount, field, input);

  // An image volume stays private whatever the request asks: nothing on the host mounts below it, and
  // what the container mounts there must not reach the host's copy in crion's state directory.
  const propagation = image
    ? 'rprivate'
    : mount.propagation === 'PROPAGATION_BIDIRECTIONAL'
      ? 'rshared'
      : mount.propagation === 'PROPAGATION_HOST_TO_CONTAINER'
        ? 'rslave'
        : 'rprivate';
  const access = mount.recursiveReadOnly ? recursiveReadOnlyAccess(mount, field, input) : mount.readonly ? 'ro' : 'rw';
  for (const option of mount.mountOptions) {
    if (!EXTRA_OPTIONS.has(option)) {
      throw new InvalidArgumentError(`${field}.mount_options: "${option}" is not one of ${[...EXTRA_OPTIONS].join(', ')}`);
    }
  }
  return {
    mount: {
      destination: normalizeDestination(mount.containerPath),
      type: 'bind',
      source,
      // An image's setuid files and device nodes are the image author's, not the pod's to use; last, so
      // no mount option undoes them. Not noexec: KEP-4639 dropped it, and critest runs the image's binaries.
      options: ['rbind', propagation, access, ...mount.mountOptions, ...(image ? ['nosuid', 'nodev'] : [])],
    },
    propagation,
  };
}

/**
 * The recursive read-only requests of a CreateContainer checked on their own, so that one the handler cannot
 * honour is refused before anything is made for the container; the spec's mounts check them again.
 */
export function checkRecursiveReadOnlyMounts(
  requested: readonly Mount__Output[],
  input: Pick<CriMountInput, 'recursiveReadOnly' | 'runtimeHandler'>,
): void {
  requested.forEach((mount, index) => {
    if (mount.recursiveReadOnly) recursiveReadOnlyAccess(mount, `mounts[${index}]`, input);
  });
}

/**
 * KEP-3857: `rro` in place of `ro`, as CRI-O writes it. runc binds the tree, then makes the bind and every
 * submount read-only with mount_setattr(AT_RECURSIVE); with plain `ro` only the top mount is. The kubelet sends
 * it only with readonly and private propagation, and critest checks that anything else is refused: a
 * submount propagating in from the host later would be writable.
 */
function recursiveReadOnlyAccess(mount: Mount__Output, field: string, input: Pick<CriMountInput, 'recursiveReadOnly' | 'runtimeHandler'>): 'rro' {
  if (!mount.readonly) throw new InvalidArgumentError(`${field}.recursive_read_only needs readonly to be set too`);
  if (mount.propagation !== 'PROPAGATION_PRIVATE' && mount.image === null) {
    throw new InvalidArgumentError(`${field}.recursive_read_only needs propagation PROPAGATION_PRIVATE, not ${mount.propagation}`);
  }
  const support = input.recursiveReadOnly;
  if (!support.available) {
    throw new FailedPreconditionError(
      `${field}.recursive_read_only: runtime handler "${input.runtimeHandler}" cannot make mounts read-only recursively: ${support.reason}`,
    );
  }
  return 'rro';
}

function hostSource(mount: Mount__Output, field: string, input: CriMountInput): string {
  if (!path.posix.isAbsolute(mount.hostPath)) {
    throw new InvalidArgumentError(`${field}.host_path "${mount.hostPath}" is not an absolute path`);
  }
  const source = input.realpath(mount.hostPath);
  if (source === null) throw new InvalidArgumentError(`${field}.host_path "${mount.hostPath}" does not exist`);
  return source;
}

function imageSource(index: number, input: CriMountInput): string {
  const source = input.imageSources.get(index);
  // The container launch mounts every image the request names before it makes the spec.
  if (source === undefined) throw new Error(`mounts[${index}]: image volume was not mounted`);
  return source;
}

function normalizeDestination(destination: string): string {
  const normalized = path.posix.normalize(destination);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/** Fewer path components first; a stable sort keeps the given order among equals. */
function sortByDepth(mounts: OciMount[]): OciMount[] {
  const depth = (mount: OciMount): number => mount.destination.split('/').filter(Boolean).length;
  return mounts
    .map((mount, index) => ({ mount, index }))
    .sort((a, b) => depth(a.mount) - depth(b.mount) || a.index - b.index)
    .map(({ mount }) => mount);
}
