import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { deleteContainersBelow, listRuncContainersBelow, startDaemon, unmountBelow, type Daemon } from '../helpers/daemon.js';
import { loadCriPackage } from '../../src/cri/proto.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { createBusyboxContainer, OWN_PID, runBusyboxPod, writeJson } from '../helpers/crictl-pods.js';

/**
 * Containers on real runc through crictl: lifecycle, CRI logs, exec, exit
 * codes, bad input leaving nothing behind, and containers that survive a
 * kill -9 of the daemon.
 */

// With critest's stand-ins: a pod with a shared PID namespace runs their pause image as its infra container.
const source = sharedImageSource(test, { critestImages: true });

function daemonConfig(...extra: string[]): string {
  return source.daemonConfig(...extra);
}

function podWithImage(daemon: Daemon, name: string) {
  return runBusyboxPod(daemon, source, name, { hostname: name });
}

function createContainer(daemon: Daemon, podId: string, podFile: string, name: string, command: string[]) {
  return createBusyboxContainer(daemon, source, podId, podFile, name, command);
}

async function leftovers(daemon: Daemon) {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const ids = await readdir(path.join(daemon.dir, 'root', 'containers'));
  return {
    rootfsMounts: mountinfo.split('\n').filter((line) => line.includes(path.join(daemon.dir, 'state', 'c'))).length,
    records: ids.length,
    runtimeDirs: (await readdir(path.join(daemon.dir, 'state', 'c')).catch(() => [])).length,
    runcContainers: (await listRuncContainersBelow(daemon.dir)).length,
  };
}

test('create, start, logs, exec, stop and remove a container, leaving nothing behind', async (t) => {
  const daemon = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(daemon, 'lifecycle');
  const created = await createContainer(daemon, podId, podFile, 'ticker', ['sh', '-c', 'echo hello; echo oops >&2; while true; do sleep 1; done']);
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);

  const { status } = await crictlJson<{ status: { state: string; logPath: string; imageRef: string; imageId: string } }>(daemon, ['inspect', id]);
  t.is(status.state, 'CONTAINER_RUNNING');
  t.is(status.imageId, source.images.busybox.configDigest);
  t.is(status.logPath, path.join(daemon.dir, 'logs', 'lifecycle', 'ticker.log'));

  await sleep(500);
  const log = await readFile(status.logPath, 'utf8');
  t.regex(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F hello$/m);
  t.regex(log, /^\S+ stderr F oops$/m);
  t.regex((await crictl(daemon, ['logs', id])).stdout, /hello/);

  const hostname = await crictl(daemon, ['exec', '-s', id, 'hostname']);
  t.is(hostname.code, 0, hostname.stderr);
  t.is(hostname.stdout.trim(), 'lifecycle');
  const failing = await crictl(daemon, ['exec', '-s', id, 'sh', '-c', 'exit 7']);
  t.not(failing.code, 0);
  t.regex(failing.stderr, /exited with 7/);
  const slow = await crictl(daemon, ['exec', '-s', '--timeout', '1', id, 'sleep', '30']);
  t.not(slow.code, 0);
  t.regex(slow.stderr, /DeadlineExceeded|timed out|deadline/i);

  // sh as PID 1 ignores SIGTERM, so this also exercises the SIGKILL after the timeout.
  t.is((await crictl(daemon, ['stop', '--timeout', '1', id])).code, 0);
  const stopped = await crictlJson<{ status: { state: string; exitCode: number } }>(daemon, ['inspect', id]);
  t.is(stopped.status.state, 'CONTAINER_EXITED');
  t.is(stopped.status.exitCode, 137);
  t.is((await crictl(daemon, ['stop', id])).code, 0, 'stopping a stopped container succeeds');
  t.is((await crictl(daemon, ['rm', id])).code, 0);
  t.is((await crictl(daemon, ['rmp', '-f', podId])).code, 0);
  t.deepEqual(await leftovers(daemon), { rootfsMounts: 0, records: 0, runtimeDirs: 0, runcContainers: 0 });
});

test('an exit code is recorded with its reason', async (t) => {
  const daemon = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(daemon, 'exits');
  const created = await createContainer(daemon, podId, podFile, 'three', ['sh', '-c', 'exit 3']);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  for (let waited = 0; waited < 10_000; waited += 100) {
    const { status } = await crictlJson<{ status: { state: string } }>(daemon, ['inspect', id]);
    if (status.state === 'CONTAINER_EXITED') break;
    await sleep(100);
  }
  const { status } = await crictlJson<{ status: { state: string; exitCode: number; reason: string } }>(daemon, ['inspect', id]);
  t.like(status, { state: 'CONTAINER_EXITED', exitCode: 3, reason: 'Error' });
});

test('crictl stop: the stop signal reaches the container through its monitor, with no runc kill, and ends it well within the grace period', async (t) => {
  // runc behind a wrapper that notes every command it is given.
  const wrapperDir = await mkdtemp(path.join(tmpdir(), 'crion-runc-wrapper-'));
  t.teardown(() => rm(wrapperDir, { recursive: true, force: true }));
  const calls = path.join(wrapperDir, 'calls');
  const wrapper = path.join(wrapperDir, 'runc');
  await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${calls}\nexec /usr/sbin/runc "$@"\n`, { mode: 0o755 });
  const daemon = await startDaemon(t, { config: daemonConfig('[runtime.handlers.runc]', `path = "${wrapper}"`, 'root = "/run/runc"') });
  const { podId, podFile } = await podWithImage(daemon, 'stop-signal');
  const script = 'trap "echo stopped by TERM; exit 0" TERM; echo ready; while :; do sleep 0.1; done';
  const id = (await createContainer(daemon, podId, podFile, 'trapper', ['sh', '-c', script])).stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  for (let waited = 0; waited < 10_000 && !(await crictl(daemon, ['logs', id])).stdout.includes('ready'); waited += 100) await sleep(100);

  const started = Date.now();
  const stopped = await crictl(daemon, ['stop', '--timeout', '30', id]);
  t.is(stopped.code, 0, stopped.stderr);
  t.true(Date.now() - started < 10_000, 'the trap ended it, not the grace period');
  const { status } = await crictlJson<{ status: { exitCode: number; reason: string } }>(daemon, ['inspect', id]);
  t.like(status, { exitCode: 0, reason: 'Completed' });
  t.regex((await crictl(daemon, ['logs', id])).stdout, /stopped by TERM/);
  const runcCommands = (await readFile(calls, 'utf8')).split('\n').filter((line) => line !== '');
  t.true(
    runcCommands.some((line) => / create /.test(line)),
    runcCommands.join('\n'),
  );
  t.false(
    runcCommands.some((line) => / kill /.test(line)),
    runcCommands.join('\n'),
  );
});

test('bad input gets the right code and leaves nothing behind', async (t) => {
  const daemon = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(daemon, 'bad-input');

  const missingPod = await createContainer(daemon, 'f'.repeat(64), podFile, 'orphan', ['true']);
  t.regex(missingPod.stderr, /NotFound/);

  const missingImageFile = await writeJson(daemon, 'missing-image.json', {
    metadata: { name: 'no-image' },
    image: { image: `${source.registry.host}/crion-test/never-pulled:latest` },
    linux: { security_context: OWN_PID },
  });
  t.regex((await crictl(daemon, ['create', podId, missingImageFile, podFile])).stderr, /NotFound.*never-pulled/);

  const noBinary = await createContainer(daemon, podId, podFile, 'no-binary', ['/no/such/binary']);
  t.not(noBinary.code, 0);
  t.regex(noBinary.stderr, /no such file or directory/);

  t.is((await createContainer(daemon, podId, podFile, 'twice', ['sleep', '60'])).code, 0);
  t.regex((await createContainer(daemon, podId, podFile, 'twice', ['sleep', '60'])).stderr, /AlreadyExists/);

  const runAsGroupOnly = await writeJson(daemon, 'group-only.json', {
    metadata: { name: 'group-only' },
    image: { image: source.images.busybox.reference },
    command: ['true'],
    linux: { security_context: { ...OWN_PID, run_as_group: { value: 100 } } },
  });
  t.regex((await crictl(daemon, ['create', podId, runAsGroupOnly, podFile])).stderr, /InvalidArgument/);

  t.deepEqual(await leftovers(daemon), { rootfsMounts: 1, records: 1, runtimeDirs: 1, runcContainers: 1 }, 'only the one good container exists');
});

test('containers survive kill -9 of the daemon; exits that happen meanwhile are recorded', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-restart-'));
  // The daemons' state lives outside their own directories here, and so do its mounts.
  t.teardown(async () => {
    await deleteContainersBelow(dir);
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  });
  const shared = ['--root', path.join(dir, 'root'), '--state', path.join(dir, 'state')];
  const first = await startDaemon(t, { config: daemonConfig(), args: shared });
  const { podId, podFile } = await podWithImage(first, 'survivor');
  const long = (await createContainer(first, podId, podFile, 'long', ['sleep', '3600'])).stdout.trim();
  const short = (await createContainer(first, podId, podFile, 'short', ['sh', '-c', 'sleep 2; exit 5'])).stdout.trim();
  t.is((await crictl(first, ['start', long])).code, 0);
  t.is((await crictl(first, ['start', short])).code, 0);

  first.signal('SIGKILL');
  await first.waitExit();
  await sleep(3000);

  const second = await startDaemon(t, { config: daemonConfig(), args: shared });
  t.teardown(async () => {
    await crictl(second, ['rmp', '-f', podId]);
  });
  const running = await crictlJson<{ status: { state: string } }>(second, ['inspect', long]);
  t.is(running.status.state, 'CONTAINER_RUNNING');
  const exec = await crictl(second, ['exec', '-s', long, 'echo', 'still here']);
  t.is(exec.stdout.trim(), 'still here');
  const exited = await crictlJson<{ status: { state: string; exitCode: number } }>(second, ['inspect', short]);
  t.like(exited.status, { state: 'CONTAINER_EXITED', exitCode: 5 });
  t.deepEqual(
    (await crictlJson<{ items: Array<{ id: string }> }>(second, ['pods'])).items.map((pod) => pod.id),
    [podId],
  );

  t.is((await crictl(second, ['stop', '--timeout', '0', long])).code, 0);
  const stopped = await crictlJson<{ status: { state: string; exitCode: number } }>(second, ['inspect', long]);
  t.like(stopped.status, { state: 'CONTAINER_EXITED', exitCode: 137 });
});

test('an image a container runs is refused to rmi until the container goes, across a daemon restart', async (t) => {
  const first = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(first, 'orphaned-image');
  const id = (await createContainer(first, podId, podFile, 'app', ['sleep', '3600'])).stdout.trim();
  t.is((await crictl(first, ['start', id])).code, 0);
  // As CRI-O keeps it: the image stays while a container it made exists, whatever that container's state.
  const refused = await crictl(first, ['rmi', source.images.busybox.reference]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, new RegExp(`code = FailedPrecondition desc = image sha256:\\w+ is in use by container ${id}`));
  t.is((await crictl(first, ['exec', '-s', id, 'ls', '/bin/sh'])).stdout.trim(), '/bin/sh');

  const second = await first.restart('SIGTERM');
  t.teardown(() => second.dispose());
  const listed = await crictl(second, ['exec', '-s', id, 'ls', '/bin/sh']);
  t.is(listed.code, 0, listed.stderr);
  t.is(listed.stdout.trim(), '/bin/sh', "the rootfs's lower layers are still there");
  // The store still works for new pods, and removing the old one finds everything it expects.
  const other = await podWithImage(second, 'after-restart');
  const fresh = (await createContainer(second, other.podId, other.podFile, 'fresh', ['sleep', '3600'])).stdout.trim();
  t.is((await crictl(second, ['start', fresh])).code, 0);
  const removed = await crictl(second, ['rmp', '-f', podId]);
  t.is(removed.code, 0, removed.stderr);
  t.not((await crictl(second, ['rmi', source.images.busybox.reference])).code, 0, 'the other pod still runs it');
  t.is((await crictl(second, ['rmp', '-f', other.podId])).code, 0);
  const unused = await crictl(second, ['rmi', source.images.busybox.reference]);
  t.is(unused.code, 0, unused.stderr);
});

/** What holds a shared PID namespace: crion's pod init by default, a pause container where the config says so. */
const PID_HOLDERS = [
  { kind: 'pod-init', pid1: /^\s*1\s+S\s+.*crion-monitor pod-init-serve$/m },
  { kind: 'pause', pid1: /^\s*1\s+S\s+.*\/pause$/m },
] as const;

function pidHolderConfig(kind: (typeof PID_HOLDERS)[number]['kind']): string {
  return daemonConfig('[runtime]', `infra_container = "${kind}"`);
}

for (const holder of PID_HOLDERS) {
  test(`a pod with a shared PID namespace: its ${holder.kind} is PID 1 there, its containers join it, orphans are reaped`, async (t) => {
    const daemon = await startDaemon(t, { config: pidHolderConfig(holder.kind) });
    t.is((await crictl(daemon, ['pull', source.images.busybox.reference])).code, 0);
    const podFile = await writeJson(daemon, 'shared-pod.json', {
      metadata: { name: 'shared-pid', namespace: 'crion-e2e', uid: 'shared-pid-uid', attempt: 0 },
      hostname: 'shared-pid',
      log_directory: path.join(daemon.dir, 'logs', 'shared'),
    });
    const pod = await crictl(daemon, ['runp', podFile]);
    t.is(pod.code, 0, pod.stderr);
    const podId = pod.stdout.trim();
    const file = await writeJson(daemon, 'shared-container.json', {
      metadata: { name: 'sleeper' },
      image: { image: source.images.busybox.reference },
      command: ['sleep', '3600'],
    });
    const created = await crictl(daemon, ['create', podId, file, podFile]);
    t.is(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    t.is((await crictl(daemon, ['start', id])).code, 0);
    const ps = await crictl(daemon, ['exec', '-s', id, 'ps', '-o', 'pid,stat,args']);
    t.regex(ps.stdout, holder.pid1, `PID 1 of the shared namespace is the ${holder.kind}`);
    t.regex(ps.stdout, /sleep 3600/);

    // The subshell exits at once, so its sleep is orphaned onto PID 1, which must reap it when it ends.
    t.is((await crictl(daemon, ['exec', '-s', id, 'sh', '-c', '(sleep 0.3 &); true'])).code, 0);
    await sleep(1000);
    const after = await crictl(daemon, ['exec', '-s', id, 'ps', '-o', 'pid,stat,args']);
    t.notRegex(after.stdout, /^\s*\d+\s+Z/m, 'no zombie is left in the pod');

    if (holder.kind === 'pod-init') {
      // The init has no root of the host's to show, and no privileges a container could borrow through /proc/1.
      const root = await crictl(daemon, ['exec', '-s', id, 'ls', '/proc/1/root/']);
      t.not(root.code, 0, `a container cannot look into PID 1's root: ${root.stdout}`);
      const status = await crictl(daemon, ['exec', '-s', id, 'cat', '/proc/1/status']);
      t.regex(status.stdout, /^Uid:\s+65535\s+65535\s+65535\s+65535$/m);
      t.regex(status.stdout, /^CapEff:\s+0+$/m);
      t.regex(status.stdout, /^CapBnd:\s+0+$/m);
      t.regex(status.stdout, /^NoNewPrivs:\s+1$/m);
    }
    const listed = await crictlJson<{ containers: Array<{ id: string }> }>(daemon, ['ps', '-a']);
    t.deepEqual(
      listed.containers.map((container) => container.id),
      [id],
      'the infra container is not listed',
    );
    t.is((await crictl(daemon, ['stopp', podId])).code, 0);
    t.is((await crictl(daemon, ['rmp', podId])).code, 0);
    t.deepEqual(await leftovers(daemon), { rootfsMounts: 0, records: 0, runtimeDirs: 0, runcContainers: 0 });
  });
}

/** The process holding a shared-PID pod's namespace: its pod init, or the pause process of its infra container. */
async function pidHolderPid(daemon: Daemon, podId: string): Promise<number> {
  const pod = JSON.parse(await readFile(path.join(daemon.dir, 'root', 'pods', podId, 'sandbox.json'), 'utf8')) as {
    infraContainerId: string | null;
    podInit?: { pid: number };
  };
  if (pod.podInit !== undefined) return pod.podInit.pid;
  const { pid } = JSON.parse(await readFile(path.join(daemon.dir, 'root', 'containers', pod.infraContainerId!, 'container.json'), 'utf8')) as {
    pid: number;
  };
  return pid;
}

async function podState(daemon: Daemon, podId: string): Promise<string> {
  return (await crictlJson<{ status: { state: string } }>(daemon, ['inspectp', podId])).status.state;
}

for (const holder of PID_HOLDERS) {
  test(`a pod whose ${holder.kind} is gone is NOTREADY, whether it died under the daemon or while it was down`, async (t) => {
    let daemon = await startDaemon(t, { config: pidHolderConfig(holder.kind) });
    t.is((await crictl(daemon, ['pull', source.images.busybox.reference])).code, 0);
    const sharedPod = async (name: string) => {
      const podFile = await writeJson(daemon, `${name}-pod.json`, { metadata: { name, namespace: 'crion-e2e', uid: `${name}-uid`, attempt: 0 } });
      const pod = await crictl(daemon, ['runp', podFile]);
      if (pod.code !== 0) throw new Error(pod.stderr);
      return pod.stdout.trim();
    };
    const live = await sharedPod('holder-killed-live');
    const down = await sharedPod('holder-killed-down');
    const kept = await sharedPod('holder-kept');
    t.is(await podState(daemon, live), 'SANDBOX_READY');

    process.kill(await pidHolderPid(daemon, live), 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((await podState(daemon, live)) !== 'SANDBOX_NOTREADY' && Date.now() < deadline) await sleep(100);
    t.is(await podState(daemon, live), 'SANDBOX_NOTREADY', 'the kubelet sees it must replace the pod');

    const downPid = await pidHolderPid(daemon, down);
    const keptPid = await pidHolderPid(daemon, kept);
    const restarted = await daemon.restart('SIGKILL', async () => {
      process.kill(downPid, 'SIGKILL');
    });
    t.teardown(() => restarted.dispose());
    daemon = restarted;
    t.is(await podState(daemon, down), 'SANDBOX_NOTREADY');
    t.is(await podState(daemon, kept), 'SANDBOX_READY', 'a holder that outlived the daemon keeps its pod');
    // Followed again by the new daemon: its death now is seen as the first one was.
    process.kill(keptPid, 'SIGKILL');
    const keptDeadline = Date.now() + 10_000;
    while ((await podState(daemon, kept)) !== 'SANDBOX_NOTREADY' && Date.now() < keptDeadline) await sleep(100);
    t.is(await podState(daemon, kept), 'SANDBOX_NOTREADY');
    for (const podId of [live, down, kept]) {
      const removed = await crictl(daemon, ['rmp', '-f', podId]);
      t.is(removed.code, 0, removed.stderr);
    }
    t.deepEqual(await leftovers(daemon), { rootfsMounts: 0, records: 0, runtimeDirs: 0, runcContainers: 0 });
  });
}

test('UpdateContainerResources reaches the cgroup; ReopenContainerLog makes the new file before it returns', async (t) => {
  const daemon = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(daemon, 'resources');
  const id = (await createContainer(daemon, podId, podFile, 'limited', ['sh', '-c', 'while true; do echo line; sleep 0.2; done'])).stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);

  const updated = await crictl(daemon, ['update', '--memory', '67108864', '--cpu-quota', '50000', id]);
  t.is(updated.code, 0, updated.stderr);
  const { info } = await crictlJson<{ info: { pid: number } }>(daemon, ['inspect', id]);
  const cgroups = await readFile(`/proc/${info.pid}/cgroup`, 'utf8');
  const memoryPath = /^\d+:memory:(.*)$/m.exec(cgroups)?.[1];
  t.truthy(memoryPath, cgroups);
  t.is((await readFile(path.join('/sys/fs/cgroup/memory', memoryPath!, 'memory.limit_in_bytes'), 'utf8')).trim(), '67108864');
  const inspected = await crictlJson<{
    status: { resources: { linux: { memoryLimitInBytes: string; cpuQuota: string } } };
    info: { runtimeSpec: { linux: { resources: { memory: { limit: number } } } } };
  }>(daemon, ['inspect', id]);
  t.like(inspected.status.resources.linux, { memoryLimitInBytes: '67108864', cpuQuota: '50000' }, 'ContainerStatus reports the new limits');
  t.is(inspected.info.runtimeSpec.linux.resources.memory.limit, 67108864, 'the verbose spec follows the cgroup');

  // A limit the kernel refuses is the request's fault, with runc's reason: not UNAVAILABLE, which clients retry as a lost connection.
  const refused = await crictl(daemon, ['update', '--memory', '1', id]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /code = FailedPrecondition.*memory/s);

  const { status } = await crictlJson<{ status: { logPath: string } }>(daemon, ['inspect', id]);
  const { rename, stat } = await import('node:fs/promises');
  await rename(status.logPath, `${status.logPath}.1`);
  const { default: grpc } = await import('@grpc/grpc-js');
  const { loadCriPackage } = await import('../../src/cri/proto.js');
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  await new Promise<void>((resolve, reject) => client.ReopenContainerLog({ containerId: id }, (error) => (error ? reject(error) : resolve())));
  await t.notThrowsAsync(stat(status.logPath), 'the new log file exists as soon as the RPC returns');
  await sleep(600);
  t.regex(await readFile(status.logPath, 'utf8'), /stdout F line/, 'output goes to the new file');
});

test('ExecSync output past 16 MiB is capped to a response the kubelet and crictl can receive, and the command runs to its end', async (t) => {
  const daemon = await startDaemon(t, { config: daemonConfig() });
  const { podId, podFile } = await podWithImage(daemon, 'big-exec');
  const id = (await createContainer(daemon, podId, podFile, 'talker', ['sleep', '3600'])).stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  // 20 MiB fails at send time when each stream alone is capped at 16 MiB; 40 MiB overflows a buffer of twice that.
  for (const mebibytes of [20, 40]) {
    const exec = await crictl(daemon, ['exec', '-s', id, 'sh', '-c', `head -c ${mebibytes}m /dev/zero | tr '\\0' x; echo done >&2`]);
    t.is(exec.code, 0, `${mebibytes} MiB: ${exec.stderr.slice(0, 500)}`);
    // crictl prints stdout, then stderr, both to its stdout.
    const [output, stderr] = exec.stdout.split('\n');
    t.true(output!.length >= 15 * 1024 * 1024 && output!.length <= 16 * 1024 * 1024, `${mebibytes} MiB: ${output!.length} bytes of stdout`);
    t.regex(output!, /^x+$/);
    t.is(stderr, 'done', `${mebibytes} MiB: stderr keeps its share`);
  }
});

test('a RunPodSandbox the caller gave up on is finished and handed to the retry, also after a daemon restart', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-abandoned-'));
  t.teardown(async () => {
    await deleteContainersBelow(dir);
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  });
  // A CNI plugin that takes a second over ADD makes the run outlast its caller's deadline whatever the load.
  const pluginDir = path.join(dir, 'plugins');
  await mkdir(pluginDir);
  await writeFile(
    path.join(pluginDir, 'slow-add'),
    [
      '#!/usr/bin/env node',
      "let input = '';",
      "process.stdin.on('data', (chunk) => (input += chunk)).on('end', () => {",
      '  const conf = JSON.parse(input);',
      "  if (process.env.CNI_COMMAND !== 'ADD') return;",
      '  setTimeout(() => process.stdout.write(JSON.stringify(conf.prevResult)), 1000);',
      '});',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const cniDir = path.join(dir, 'cni');
  const shared = [
    '--root',
    path.join(dir, 'root'),
    '--state',
    path.join(dir, 'state'),
    '--network-cni-config-dir',
    cniDir,
    '--network-cni-plugin-dirs',
    `${pluginDir},/usr/lib/cni`,
  ];
  const first = await startDaemon(t, { config: daemonConfig(), args: shared });
  const network = JSON.parse(await readFile(path.join(cniDir, '99-crion-bridge.conflist'), 'utf8')) as { plugins: unknown[] };
  await writeFile(
    path.join(cniDir, '05-slow.conflist'),
    JSON.stringify({ ...network, name: 'slow', plugins: [...network.plugins, { type: 'slow-add' }] }),
  );

  const cri = loadCriPackage();
  const config = {
    metadata: { name: 'abandoned', namespace: 'crion-e2e', uid: 'abandoned-uid', attempt: 0 },
    logDirectory: path.join(dir, 'logs'),
    linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' as const } } },
  };
  const call = async (daemon: Daemon, deadlineMs: number) => {
    const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
    // Connected first, so the short deadline is spent on the run, not on the connection.
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    return new Promise<{ podSandboxId?: string; code?: number }>((resolve) =>
      client.RunPodSandbox({ config }, { deadline: Date.now() + deadlineMs }, (error, response) => {
        client.close();
        resolve(error ? { code: error.code } : { podSandboxId: response!.podSandboxId });
      }),
    );
  };
  t.is((await call(first, 300)).code, grpc.status.DEADLINE_EXCEEDED);
  await first.waitForLog((line) => line.msg === 'pod started', 30_000);
  // Killed on the line itself: the pod's record, saved before it, must already hand the pod to the retry.
  first.signal('SIGKILL');
  await first.waitExit();

  const second = await startDaemon(t, { config: daemonConfig(), args: shared });
  t.teardown(async () => {
    await crictl(second, ['rmp', '--all', '--force']);
  });
  const pods = await crictlJson<{ items: Array<{ id: string }> }>(second, ['pods']);
  t.is(pods.items.length, 1, 'the abandoned run finished and was kept');
  const retry = await call(second, 30_000);
  t.is(retry.podSandboxId, pods.items[0]!.id, "the kubelet's retry gets that pod");
  const duplicate = await call(second, 30_000);
  t.is(duplicate.code, grpc.status.ALREADY_EXISTS, 'only the first retry: a later run with the name is a duplicate');
});
