import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crictl } from './crictl.js';
import type { Daemon } from './daemon.js';
import type { ImageSource } from './image-source.js';
import type { RunResult } from './process.js';

/** PID mode CONTAINER: a pod-wide PID namespace needs the infra container, which these tests do not want. */
export const OWN_PID = { namespace_options: { pid: 1 } };

/** Writes `value` as JSON into the daemon's temp dir, for crictl to read. */
export async function writeJson(daemon: Daemon, name: string, value: unknown): Promise<string> {
  const file = path.join(daemon.dir, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

/** Pulls the test busybox image and runs a pod with its own PID namespace per container; `extra` joins its config. */
export async function runBusyboxPod(daemon: Daemon, source: ImageSource, name: string, extra: Record<string, unknown> = {}) {
  const pull = await crictl(daemon, ['pull', source.images.busybox.reference]);
  if (pull.code !== 0) throw new Error(pull.stderr);
  const podFile = await writeJson(daemon, `${name}-pod.json`, {
    metadata: { name, namespace: 'crion-e2e', uid: `${name}-uid`, attempt: 0 },
    log_directory: path.join(daemon.dir, 'logs', name),
    linux: { security_context: OWN_PID },
    ...extra,
  });
  const pod = await crictl(daemon, ['runp', podFile]);
  if (pod.code !== 0) throw new Error(pod.stderr);
  return { podId: pod.stdout.trim(), podFile };
}

/**
 * Creates a container of the test busybox image running `command` in the pod, with its own PID namespace and its log
 * at `<name>.log`; `extra` joins its config. Returns crictl's result, whatever its exit code.
 */
export async function createBusyboxContainer(
  daemon: Daemon,
  source: ImageSource,
  podId: string,
  podFile: string,
  name: string,
  command: readonly string[],
  extra: Record<string, unknown> = {},
): Promise<RunResult> {
  const file = await writeJson(daemon, `${name}-container.json`, {
    metadata: { name },
    image: { image: source.images.busybox.reference },
    command,
    log_path: `${name}.log`,
    linux: { security_context: OWN_PID },
    ...extra,
  });
  return crictl(daemon, ['create', podId, file, podFile]);
}

/** Every cgroup v1 hierarchy runc may make a pod's parent directories in, and the v2 root (''). */
const CGROUP_HIERARCHIES = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
  'net_cls',
  'perf_event',
  'hugetlb',
  'systemd',
  'unified',
  '',
];

/**
 * A fresh cgroupfs parent for the test's pods (the daemon's cgroup driver must be cgroupfs). When the test ends its
 * pods are removed, then the parent's directories: runc makes them but removes only the container's own cgroup. Call
 * it after startDaemon: teardowns run last-registered first, so the daemon is still there to remove the pods.
 */
export function cgroupfsParent(t: ExecutionContext, daemon: Daemon, name: string): string {
  const parent = `/crion-e2e-${name}-${randomBytes(4).toString('hex')}`;
  t.teardown(async () => {
    await crictl(daemon, ['rmp', '-f', '--all']);
    for (const hierarchy of CGROUP_HIERARCHIES) {
      await rmdir(path.join('/sys/fs/cgroup', hierarchy, parent)).catch(() => undefined);
    }
  });
  return parent;
}
