import test from 'ava';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';

/** Pod sandboxes through crictl: namespaces pinned to files, pod files, idempotent stop and remove, no leaks. */

interface PodConfig {
  metadata: { name: string; namespace: string; uid: string; attempt: number };
  hostname?: string;
  log_directory?: string;
  dns_config?: { servers: string[]; searches: string[]; options: string[] };
  linux?: { sysctls?: Record<string, string>; security_context?: { namespace_options?: { network?: number; pid?: number; ipc?: number } } };
}

/** NamespaceMode: 0 POD, 1 CONTAINER, 2 NODE. A per-container PID namespace until pods can hold a shared one. */
function podConfig(name: string, extra: Partial<PodConfig> = {}): PodConfig {
  return {
    metadata: { name, namespace: 'crion-e2e', uid: `${name}-uid`, attempt: 0 },
    ...extra,
    linux: { ...extra.linux, security_context: { namespace_options: { pid: 1, ...extra.linux?.security_context?.namespace_options } } },
  };
}

async function runPod(daemon: Daemon, config: PodConfig): Promise<{ code: number | null; id: string; stderr: string }> {
  const file = path.join(daemon.dir, `${config.metadata.name}.json`);
  await writeFile(file, JSON.stringify(config));
  const result = await crictl(daemon, ['runp', file]);
  return { code: result.code, id: result.stdout.trim(), stderr: result.stderr };
}

async function podMounts(daemon: Daemon): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountinfo.split('\n').filter((line) => line.includes(path.join(daemon.dir, 'state', 'pods', '')));
}

async function nsenter(kind: 'net' | 'uts' | 'ipc', file: string, ...command: string[]) {
  return run('nsenter', [`--${kind}=${file}`, ...command]);
}

test('a pod gets its own network, IPC and UTS namespaces, its hostname, sysctls and DNS settings', async (t) => {
  const daemon = await startDaemon(t);
  const pod = await runPod(
    daemon,
    podConfig('ns-pod', {
      hostname: 'crion-pod',
      dns_config: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
      linux: { sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '1024' } },
    }),
  );
  t.is(pod.code, 0, pod.stderr);
  const { status, info } = await crictlJson<{
    status: { state: string; metadata: { name: string } };
    info: { namespaces: Record<string, string>; files: Record<string, string> };
  }>(daemon, ['inspectp', pod.id]);
  t.is(status.state, 'SANDBOX_READY');
  t.is(status.metadata.name, 'ns-pod');

  t.is((await nsenter('uts', info.namespaces.uts!, 'hostname')).stdout.trim(), 'crion-pod');
  const links = (await nsenter('net', info.namespaces.net!, 'ip', '-o', 'link')).stdout.trim().split('\n');
  t.is(links.length, 2, 'loopback, and the eth0 the default network added');
  t.regex(links[0]!, /lo:.*UP/);
  t.regex(links[1]!, /eth0@.*UP/);
  t.is((await nsenter('ipc', info.namespaces.ipc!, 'cat', '/proc/sys/kernel/shm_rmid_forced')).stdout.trim(), '1');
  t.is((await nsenter('net', info.namespaces.net!, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start')).stdout.trim(), '1024');
  t.is(await readFile(info.files.resolvConf!, 'utf8'), 'search svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  t.is(await readFile(info.files.hostname!, 'utf8'), 'crion-pod\n');
});

test('stop and remove are idempotent and leave no mount, pin or directory', async (t) => {
  const daemon = await startDaemon(t);
  for (let cycle = 0; cycle < 5; cycle++) {
    const pod = await runPod(daemon, podConfig(`cycle-${cycle}`));
    t.is(pod.code, 0, pod.stderr);
    t.is((await crictl(daemon, ['stopp', pod.id])).code, 0);
    t.is((await crictl(daemon, ['stopp', pod.id])).code, 0, 'stopping twice succeeds');
    const { status } = await crictlJson<{ status: { state: string } }>(daemon, ['inspectp', pod.id]);
    t.is(status.state, 'SANDBOX_NOTREADY');
    t.is((await crictl(daemon, ['rmp', pod.id])).code, 0);
  }
  t.deepEqual(await crictlJson<{ items: unknown[] }>(daemon, ['pods']).then((pods) => pods.items), []);
  t.deepEqual(await readdir(path.join(daemon.dir, 'state', 'pods')), []);
  t.deepEqual(await readdir(path.join(daemon.dir, 'root', 'pods')), []);
  t.is((await podMounts(daemon)).length, 1, 'only the private parent mount of the pins remains');
});

test('a duplicate pod name is ALREADY_EXISTS; a bad sysctl is INVALID_ARGUMENT and leaves nothing', async (t) => {
  const daemon = await startDaemon(t);
  t.is((await runPod(daemon, podConfig('twice'))).code, 0);
  const duplicate = await runPod(daemon, podConfig('twice'));
  t.not(duplicate.code, 0);
  t.regex(duplicate.stderr, /AlreadyExists.*twice_crion-e2e_twice-uid_0/);

  const mountsBefore = await podMounts(daemon);
  const bad = await runPod(daemon, podConfig('bad-sysctl', { linux: { sysctls: { 'kernel.hostname-is-not-a-sysctl': '1' } } }));
  t.not(bad.code, 0);
  t.regex(bad.stderr, /InvalidArgument.*sysctl/);
  t.deepEqual(await podMounts(daemon), mountsBefore, 'no namespace pin or shm mount is left');
  t.is((await readdir(path.join(daemon.dir, 'state', 'pods'))).length, 1);
  t.is((await readdir(path.join(daemon.dir, 'root', 'pods'))).length, 1);
});

test('a host-network pod pins no network or UTS namespace', async (t) => {
  const daemon = await startDaemon(t);
  const pod = await runPod(daemon, podConfig('host-net', { linux: { security_context: { namespace_options: { network: 2 } } } }));
  t.is(pod.code, 0, pod.stderr);
  const { info } = await crictlJson<{ info: { namespaces: Record<string, string | null> } }>(daemon, ['inspectp', pod.id]);
  t.is(info.namespaces.net, null);
  t.is(info.namespaces.uts, null);
  t.truthy(info.namespaces.ipc);
});

test('pods are listed with filters by state and label', async (t) => {
  const daemon = await startDaemon(t);
  const ready = await runPod(daemon, { ...podConfig('ready'), labels: { tier: 'web' } } as PodConfig);
  const stopped = await runPod(daemon, podConfig('stopped'));
  await crictl(daemon, ['stopp', stopped.id]);
  const byState = await crictlJson<{ items: Array<{ id: string }> }>(daemon, ['pods', '--state', 'ready']);
  t.deepEqual(
    byState.items.map((pod) => pod.id),
    [ready.id],
  );
  const byLabel = await crictlJson<{ items: Array<{ id: string }> }>(daemon, ['pods', '--label', 'tier=web']);
  t.deepEqual(
    byLabel.items.map((pod) => pod.id),
    [ready.id],
  );
});
