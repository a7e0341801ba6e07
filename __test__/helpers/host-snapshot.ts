import { createHash } from 'node:crypto';
import { readdir, readFile, readlink, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { listRuncContainersBelow } from './daemon.js';
import { run } from './process.js';

/**
 * What a daemon leaves on the host, as comparable lists of strings: taken
 * before a run of creates and deletes and again after, the two must be
 * equal. Everything is scoped to one daemon (its directory, the cgroup
 * parents its pods name, the pod and container IDs it handed out, its
 * bridge), so tests running beside it on the same host do not disturb the
 * comparison.
 */

export interface SnapshotScope {
  /** The daemon's directory, holding its root and state. */
  readonly dir: string;
  /** Daemons running on that directory: their command lines name it, and they are not leftovers. */
  readonly daemonPids: readonly number[];
  /** The cgroupfs paths (as runc lays them out) the test's pods name as cgroup_parent. */
  readonly cgroupParents: readonly string[];
  /** Parents other daemons use too (crion's default): only the cgroups named after one of `ids` count there. */
  readonly sharedCgroupParents: readonly string[];
  /** The daemon's CNI bridge; null when its pods have no network. */
  readonly bridge: string | null;
  /** Every pod and container ID the test saw, so processes and iptables rules naming them are found. */
  readonly ids: ReadonlySet<string>;
  /** The CNI networks' names, which the plugins hash with a pod's ID into its chain names. */
  readonly networkNames: readonly string[];
  /** runc's state dir for the runtime's containers; crion's handler uses runc's default, /run/runc. */
  readonly runcRoot?: string;
}

export interface HostSnapshot {
  /** Mount points at or below the daemon's directory, or whose options name it (overlay upper dirs). */
  readonly mounts: string[];
  /** Files and directories of the stores: records, writable layers, runtime dirs, pins, CNI caches and leases. */
  readonly store: string[];
  /** `<hierarchy>:<path>` of every cgroup below the test's parents, in every v1 hierarchy and the v2 one. */
  readonly cgroups: string[];
  /** Monitors, runc, container and CNI plugin processes: anything naming the daemon's dir or an ID (in its command line or environment), or in a test cgroup. */
  readonly processes: string[];
  /** runc's own containers whose bundle is in the daemon's dir. */
  readonly runcContainers: string[];
  /** Interfaces enslaved to the daemon's bridge (the host ends of pod veths). */
  readonly bridgePorts: string[];
  /** iptables rules (every table) naming a pod of the test, and the CNI chains made for those pods. */
  readonly iptables: string[];
  /** What the daemons hold open that could keep a pod alive: namespaces, pidfds, files in the daemon's dir. */
  readonly daemonFds: string[];
}

/** The stores below root and state; image layers are shared by design and stay. */
const STORE_DIRS = [
  ['root', 'pods'],
  ['root', 'containers'],
  ['state', 'pods'],
  ['state', 'c'],
  ['state', 'cni'],
] as const;

/** host-local's bookkeeping (the last IP it handed out, its lock), not a lease. */
const IPAM_BOOKKEEPING = /^(last_reserved_ip\.\d+|lock)$/;

export async function snapshotHost(scope: SnapshotScope): Promise<HostSnapshot> {
  const [mounts, store, cgroups, processes, runcContainers, bridgePorts, iptables, daemonFds] = await Promise.all([
    mountsOf(scope.dir),
    storeOf(scope.dir),
    cgroupsBelow(scope),
    processesOf(scope),
    runcContainersBelow(scope.dir, scope.runcRoot),
    scope.bridge === null ? Promise.resolve([]) : bridgePortsOf(scope.bridge),
    iptablesRulesOf(scope.ids, scope.networkNames),
    fdsOf(scope),
  ]);
  return { mounts, store, cgroups, processes, runcContainers, bridgePorts, iptables, daemonFds };
}

async function mountsOf(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo
    .split('\n')
    .filter((line) => line.includes(dir))
    .map((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-');
      // Mount point and filesystem type: mount IDs differ between two mounts of the same thing.
      return `${fields[4]} ${fields[separator + 1]}`;
    })
    .sort();
}

async function storeOf(dir: string): Promise<string[]> {
  const mountPoints = new Set((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((line) => line.split(' ')[4]));
  const entries: string[] = [];
  for (const parts of STORE_DIRS) {
    const base = path.join(dir, ...parts);
    for (const { relative, directory } of await listTree(base, mountPoints)) {
      // host-local keeps a directory and bookkeeping per network, not per pod: only leases count there.
      if (parts[1] === 'cni' && (directory || IPAM_BOOKKEEPING.test(path.basename(relative)))) continue;
      entries.push(path.join(...parts, relative));
    }
  }
  return entries.sort();
}

/**
 * Everything below `base`, empty when it does not exist. Mounted
 * filesystems (a rootfs, a pod's shm) are listed as their mount point
 * only: the mount is in the mount list, its contents belong to the image.
 */
async function listTree(base: string, mountPoints: ReadonlySet<string | undefined>): Promise<Array<{ relative: string; directory: boolean }>> {
  const found: Array<{ relative: string; directory: boolean }> = [];
  const walk = async (relative: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path.join(base, relative), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const child = path.join(relative, entry.name);
      found.push({ relative: child, directory: entry.isDirectory() });
      if (entry.isDirectory() && !mountPoints.has(path.join(base, child))) await walk(child);
    }
  };
  await walk('');
  return found;
}

/** Mount points of every cgroup hierarchy: each v1 controller (and named) hierarchy, and the v2 one. */
export async function cgroupHierarchies(): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const mountPoints = mountinfo.split('\n').flatMap((line) => {
    const fields = line.split(' ');
    const type = fields[fields.indexOf('-') + 1];
    return type === 'cgroup' || type === 'cgroup2' ? [fields[4]!] : [];
  });
  return [...new Set(mountPoints)].sort();
}

async function cgroupsBelow(scope: SnapshotScope): Promise<string[]> {
  const found: string[] = [];
  const ids = [...scope.ids];
  for (const hierarchy of await cgroupHierarchies()) {
    for (const parent of [...scope.cgroupParents, ...scope.sharedCgroupParents]) {
      const shared = scope.sharedCgroupParents.includes(parent);
      const dirs = await listCgroupDirs(path.join(hierarchy, parent));
      for (const dir of dirs) {
        if (!shared || ids.some((id) => dir.includes(id))) found.push(`${hierarchy}:${path.join(parent, dir)}`);
      }
    }
  }
  return found.sort();
}

/** Child cgroups only: a cgroup's files are the kernel's interface, not something left behind. */
async function listCgroupDirs(base: string): Promise<string[]> {
  // A cgroupfs holds no mounts, so the walk descends into every directory.
  const tree = await listTree(base, new Set());
  return tree.filter((entry) => entry.directory).map((entry) => entry.relative);
}

/**
 * Removes each cgroup path in every hierarchy, children first, and then its
 * ancestors up to (and including) `top`, as long as they are empty. For the
 * parents a test invents, which runc creates on demand and nobody owns.
 */
export async function removeCgroupTree(top: string): Promise<void> {
  for (const hierarchy of await cgroupHierarchies()) {
    const base = path.join(hierarchy, top);
    const dirs = (await listCgroupDirs(base)).sort((a, b) => b.split('/').length - a.split('/').length);
    for (const dir of [...dirs, '']) {
      await rmdir(path.join(base, dir)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  }
}

async function processesOf(scope: SnapshotScope): Promise<string[]> {
  const own = new Set([process.pid, ...scope.daemonPids]);
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || own.has(Number(entry))) continue;
    const [cmdline, cgroup, status, environ] = await Promise.all(
      ['cmdline', 'cgroup', 'status', 'environ'].map((file) => readFile(path.join('/proc', entry, file), 'utf8').catch(() => '')),
    );
    if (status === '') continue; // exited meanwhile
    const command = cmdline!.split('\0').join(' ').trim();
    // A CNI plugin names its pod only in its environment (CNI_CONTAINERID), and in no cgroup of the pod's.
    const names =
      command.includes(scope.dir) ||
      [...scope.ids].some((id) => command.includes(id) || environ!.includes(`=${id}`)) ||
      cgroup!.split('\n').some((line) => inScopeCgroup(scope, line.split(':')[2] ?? ''));
    if (!names) continue;
    const state = /^State:\s+(\S+)/m.exec(status!)?.[1] ?? '?';
    const name = /^Name:\s+(.*)$/m.exec(status!)?.[1] ?? '?';
    found.push(`${entry} ${state} ${name}: ${command}`);
  }
  return found.sort();
}

function inScopeCgroup(scope: SnapshotScope, cgroup: string): boolean {
  if (scope.cgroupParents.some((parent) => cgroup.startsWith(`${parent}/`))) return true;
  return scope.sharedCgroupParents.some((parent) => cgroup.startsWith(`${parent}/`) && [...scope.ids].some((id) => cgroup.includes(id)));
}

/** Namespace fds keep a namespace alive with nothing mounted or running in it; a pidfd per watched process is expected. */
const HELD_FD = /^((net|ipc|uts|pid|mnt|cgroup|user|time):\[\d+\]|anon_inode:\[pidfd\])$/;

async function fdsOf(scope: SnapshotScope): Promise<string[]> {
  const found: string[] = [];
  for (const pid of scope.daemonPids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => null);
      if (target !== null && (HELD_FD.test(target) || target.startsWith(`${scope.dir}/`))) found.push(target);
    }
  }
  return found.sort();
}

async function runcContainersBelow(dir: string, runcRoot: string | undefined): Promise<string[]> {
  return (await listRuncContainersBelow(dir, runcRoot)).map((container) => `${container.id} ${container.status}`).sort();
}

async function bridgePortsOf(bridge: string): Promise<string[]> {
  const result = await run('ip', ['-o', 'link', 'show', 'master', bridge]);
  // No bridge (yet) means no ports.
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split(':')[1]!.trim())
    .sort();
}

/**
 * Rules whose comment names one of the test's pods (the bridge and portmap
 * plugins tag theirs with the pod's ID), and the per-pod chains those
 * plugins create, found by name: an empty chain left behind names no pod.
 */
async function iptablesRulesOf(ids: ReadonlySet<string>, networkNames: readonly string[]): Promise<string[]> {
  if (ids.size === 0) return [];
  const chains = new Set([...ids].flatMap((id) => networkNames.flatMap((name) => podChains(name, id))));
  const found: string[] = [];
  for (const binary of ['iptables-save', 'ip6tables-save']) {
    const dump = await run(binary, []);
    if (dump.code !== 0) continue;
    for (const line of dump.stdout.split('\n')) {
      const chain = /^:(\S+) /.exec(line)?.[1];
      if ((chain !== undefined && chains.has(chain)) || [...ids].some((id) => line.includes(id))) found.push(`${binary}: ${line}`);
    }
  }
  return found.sort();
}

/**
 * The CNI plugins' FormatChainName: "CNI-" (the bridge plugin's masquerade
 * chain) or "CNI-DN-" (portmap's DNAT chain) and the hex SHA-512 of network
 * name and pod ID, cut to iptables' 28 characters.
 */
function podChains(networkName: string, id: string): string[] {
  const hash = createHash('sha512')
    .update(networkName + id)
    .digest('hex');
  return ['CNI-', 'CNI-DN-'].map((prefix) => (prefix + hash).slice(0, 28));
}
