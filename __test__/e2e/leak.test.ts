import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BROKEN_NETWORK_NAME,
  DEFAULT_CGROUP_PARENT,
  call,
  containerConfig,
  containerStatus,
  createContainer,
  expectCode,
  harnessImages,
  harnessRegistry,
  podConfig,
  restart,
  runPod,
  setUp,
  snapshot,
  useHarness,
  waitExited,
  type Setup,
} from '../helpers/leak-harness.js';
import { hostPorts } from '../helpers/host-ports.js';

/**
 * The leak test: many pods and containers made and deleted, and every kind
 * of failed create, each followed by a look at the host. Mounts, namespace
 * pins, cgroups, processes, runc state, records, writable layers, CNI
 * leases, veths and iptables rules must all be back to what they were.
 */

useHarness(test);

/** The process's memory cgroup (v1's memory hierarchy, else the v2 one) and the file listing its members. */
async function memoryCgroupOf(pid: number): Promise<{ path: string; procs: string }> {
  const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(cgroups)?.[1];
  if (v1 !== undefined) return { path: v1, procs: path.join('/sys/fs/cgroup/memory', v1, 'cgroup.procs') };
  const v2 = /^0::(.*)$/m.exec(cgroups)?.[1] ?? '';
  return { path: v2, procs: path.join('/sys/fs/cgroup', v2, 'cgroup.procs') };
}

const nextHostPort = hostPorts('leak');
/** A shared PID namespace gets a pod init unless the config asks for pause containers. */
const PAUSE_CONFIG = ['[runtime]', 'infra_container = "pause"'];
const CYCLES = 20;

test('many pod and container lifecycles leave the host as it was', async (t) => {
  const setup = await setUp(t);
  const before = await snapshot(setup);

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const sharedPid = cycle % 2 === 0;
    // A slice name, a cgroupfs path, and none (crion's default parent), in turn.
    const [cgroupParent, cgroupPath] = (
      [
        [setup.sliceParent, setup.slicePath],
        [setup.cgroupfsParent, setup.cgroupfsParent],
        ['', DEFAULT_CGROUP_PARENT],
      ] as const
    )[cycle % 3]!;
    const pod = podConfig(setup, `cycle-${cycle}`, {
      sharedPid,
      cgroupParent,
      hostPort: cycle % 4 === 0 ? nextHostPort() : undefined,
      hostNetwork: cycle % 6 === 5,
    });
    const podId = await runPod(setup, pod);
    const work = await createContainer(setup, podId, pod, containerConfig('work', ['sleep', '3600']));
    await call(setup.runtime, 'StartContainer', { containerId: work });
    const running = await containerStatus(setup, work);
    t.is(running.state, 'CONTAINER_RUNNING');
    // Proves the cgroup comparison looks where the containers really are.
    const memoryCgroup = await memoryCgroupOf(running.pid);
    t.true(memoryCgroup.path.startsWith(`${cgroupPath}/`), memoryCgroup.path);
    const exec = await call<{ stdout: Buffer; exitCode: number }>(setup.runtime, 'ExecSync', {
      containerId: work,
      cmd: ['echo', `cycle ${cycle}`],
      timeout: 30,
    });
    t.is(exec.stdout.toString().trim(), `cycle ${cycle}`);

    if (cycle % 5 === 2) {
      await expectCode(
        t,
        call(setup.runtime, 'ExecSync', { containerId: work, cmd: ['sleep', '300'], timeout: 1 }),
        grpc.status.DEADLINE_EXCEEDED,
        /timed out/,
      );
      const procs = await readFile(memoryCgroup.procs, 'utf8');
      t.deepEqual(procs.trim().split('\n').map(Number), [running.pid], 'the timed-out command is gone once ExecSync answers');
    }

    if (cycle % 5 === 1) {
      // More than its 32 MiB: dd's one block is the whole allocation.
      const oom = await createContainer(
        setup,
        podId,
        pod,
        containerConfig('oom', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], {
          linux: { resources: { memoryLimitInBytes: String(32 * 1024 * 1024) } },
        }),
      );
      await call(setup.runtime, 'StartContainer', { containerId: oom });
      t.like(await waitExited(setup, oom), { exitCode: 137, reason: 'OOMKilled' });
      await call(setup.runtime, 'RemoveContainer', { containerId: oom });
    }

    if (cycle % 5 === 4) {
      // The kubelet's forced removal: RemovePodSandbox with one container running and one never started.
      const idle = await createContainer(setup, podId, pod, containerConfig('idle', ['sleep', '3600']));
      await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: podId });
      for (const containerId of [work, idle]) {
        await expectCode(t, call(setup.runtime, 'ContainerStatus', { containerId }), grpc.status.NOT_FOUND, /not found/);
      }
      continue;
    }
    await call(setup.runtime, 'StopContainer', { containerId: work, timeout: 1 });
    t.like(await containerStatus(setup, work), { state: 'CONTAINER_EXITED' });
    await call(setup.runtime, 'RemoveContainer', { containerId: work });
    await call(setup.runtime, 'StopPodSandbox', { podSandboxId: podId });
    await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: podId });
  }

  t.deepEqual(await snapshot(setup), before);
});

/** A chain whose second plugin fails after the bridge plugin has made the veth and taken an IP: DEL must undo both. */
function brokenNetwork(setup: Setup): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: BROKEN_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: setup.bridge,
        // The bridge already holds the good network's gateway address; a second one would fail the ADD too early.
        isGateway: false,
        ipMasq: true,
        ipam: {
          type: 'host-local',
          // The top of the test's own /24, which its pods (numbered from the bottom) never reach.
          ranges: [[{ subnet: setup.network.subnet, rangeStart: `${setup.network.prefix}200`, rangeEnd: `${setup.network.prefix}250` }]],
          dataDir: path.join(setup.dir, 'state', 'cni', 'networks'),
        },
      },
      { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.no_such_sysctl': '1' } },
    ],
  });
}

test('failed creates answer the right code and leave the host as it was', async (t) => {
  const setup = await setUp(t);
  const { runtime } = setup;
  const pod = podConfig(setup, 'target', { sharedPid: false, cgroupParent: setup.cgroupfsParent });
  const podId = await runPod(setup, pod);
  const dup = await createContainer(setup, podId, pod, containerConfig('dup', ['sleep', '3600']));
  await call(runtime, 'StartContainer', { containerId: dup });
  const before = await snapshot(setup);
  // The snapshot sees what it compares: the running container's processes, mounts and the daemon's watch on it.
  t.true(before.processes.some((line) => line.includes('sleep 3600')));
  t.true(before.mounts.some((line) => line.endsWith(' overlay')));
  t.true(before.daemonFds.includes('anon_inode:[pidfd]'));

  await expectCode(
    t,
    createContainer(setup, podId, pod, containerConfig('no-image', ['true'], { image: `${harnessRegistry().host}/crion-test/never-pulled:latest` })),
    grpc.status.NOT_FOUND,
    /never-pulled/,
  );
  await expectCode(t, createContainer(setup, 'f'.repeat(64), pod, containerConfig('orphan', ['true'])), grpc.status.NOT_FOUND, /pod sandbox/);
  await expectCode(t, createContainer(setup, podId, pod, containerConfig('dup', ['true'])), grpc.status.ALREADY_EXISTS, /dup_target/);
  await expectCode(
    t,
    createContainer(setup, podId, pod, containerConfig('group-only', ['true'], { linux: { securityContext: { runAsGroup: { value: '100' } } } })),
    grpc.status.INVALID_ARGUMENT,
    /run_as_group/,
  );
  await expectCode(
    t,
    createContainer(
      setup,
      podId,
      pod,
      containerConfig('bad-seccomp', ['true'], {
        linux: { securityContext: { seccomp: { profileType: 'Localhost', localhostRef: '/nonexistent/seccomp.json' } } },
      }),
    ),
    grpc.status.INVALID_ARGUMENT,
    /nonexistent\/seccomp\.json/,
  );
  await expectCode(
    t,
    createContainer(
      setup,
      podId,
      pod,
      containerConfig('bad-mount', ['true'], { mounts: [{ containerPath: '/data', hostPath: '/nonexistent/crion-leak' }] }),
    ),
    grpc.status.INVALID_ARGUMENT,
    /host_path "\/nonexistent\/crion-leak" does not exist/,
  );
  // Found out only while the spec is generated, with the rootfs already mounted.
  await expectCode(
    t,
    createContainer(
      setup,
      podId,
      pod,
      containerConfig('no-target', ['true'], { linux: { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: 'e'.repeat(64) } } } }),
    ),
    grpc.status.NOT_FOUND,
    /e{64}/,
  );

  // runc looks the executable up in `runc create`, which the monitor runs for CreateContainer: that RPC fails and says why.
  await expectCode(
    t,
    createContainer(setup, podId, pod, containerConfig('no-binary', ['/no/such/binary'])),
    grpc.status.FAILED_PRECONDITION,
    /\/no\/such\/binary.*no such file or directory/,
  );
  // Pod-level failures, each in a shared and an own PID namespace (the shared one also starts a pod init).
  for (const sharedPid of [false, true]) {
    const name = (what: string): string => `${what}-${sharedPid ? 'shared' : 'own'}`;
    await expectCode(
      t,
      runPod(setup, podConfig(setup, name('bad-sysctl'), { sharedPid, cgroupParent: setup.sliceParent, sysctls: { 'kernel.no_such_sysctl': '1' } })),
      grpc.status.INVALID_ARGUMENT,
      /sysctl/,
    );
    await expectCode(
      t,
      runPod(setup, podConfig(setup, name('bad-handler'), { sharedPid, cgroupParent: setup.sliceParent }), 'no-such-handler'),
      grpc.status.NOT_FOUND,
      /no-such-handler/,
    );
    await expectCode(
      t,
      runPod(setup, podConfig(setup, name('dup-pod'), { sharedPid, cgroupParent: setup.sliceParent })).then((id) =>
        runPod(setup, podConfig(setup, name('dup-pod'), { sharedPid, cgroupParent: setup.sliceParent })).finally(() =>
          call(runtime, 'RemovePodSandbox', { podSandboxId: id }),
        ),
      ),
      grpc.status.ALREADY_EXISTS,
      /dup-pod/,
    );
    const brokenFile = path.join(setup.dir, 'cni', '05-broken.conflist');
    await writeFile(brokenFile, brokenNetwork(setup));
    try {
      await expectCode(
        t,
        runPod(setup, podConfig(setup, name('cni-fails'), { sharedPid, cgroupParent: setup.sliceParent, hostPort: nextHostPort() })),
        grpc.status.UNAVAILABLE,
        /no_such_sysctl/,
      );
    } finally {
      await unlink(brokenFile);
    }
  }

  t.deepEqual(await snapshot(setup), before);
});

for (const holder of ['pod-init', 'pause'] as const) {
  test(`what creates the daemon died in left behind is undone at its next start (shared PID namespaces with ${holder})`, async (t) => {
    const first = await setUp(t, undefined, holder === 'pause' ? PAUSE_CONFIG : []);
    const pod = podConfig(first, 'survivor', { sharedPid: false, cgroupParent: first.cgroupfsParent });
    const podId = await runPod(first, pod);
    const work = await createContainer(first, podId, pod, containerConfig('work', ['sleep', '3600']));
    await call(first.runtime, 'StartContainer', { containerId: work });
    const before = await snapshot(first);

    // Each made in full, then its last record write taken back: what a daemon killed just before that write leaves.
    const halfPodId = await runPod(
      first,
      podConfig(first, 'half-pod', { sharedPid: false, cgroupParent: first.sliceParent, hostPort: nextHostPort() }),
    );
    const halfContainer = await createContainer(first, podId, pod, containerConfig('half-container', ['sleep', '3600']));
    const infraPodId = await runPod(first, podConfig(first, 'half-infra', { sharedPid: true, cgroupParent: first.sliceParent }));
    first.daemon.signal('SIGKILL');
    await first.daemon.waitExit();
    await unlink(path.join(first.dir, 'root', 'pods', halfPodId, 'sandbox.json'));
    await unlink(path.join(first.dir, 'root', 'containers', halfContainer, 'container.json'));
    const infraPodFile = path.join(first.dir, 'root', 'pods', infraPodId, 'sandbox.json');
    const { podInit: _started, ...infraPod } = JSON.parse(await readFile(infraPodFile, 'utf8')) as { podInit?: unknown };
    // A pause container is made before its pod records it; a pod init is started while the record is still incomplete.
    const interrupted = holder === 'pause' ? { ...infraPod, infraContainerId: null } : { ...infraPod, state: 'SANDBOX_NOTREADY', incomplete: true };
    await writeFile(infraPodFile, JSON.stringify(interrupted));

    const second = await restart(t, first);
    await call(second.runtime, 'RemovePodSandbox', { podSandboxId: infraPodId });
    t.deepEqual(await snapshot(second), before);
    t.like(await containerStatus(second, work), { state: 'CONTAINER_RUNNING' });
    const exec = await call<{ stdout: Buffer }>(second.runtime, 'ExecSync', { containerId: work, cmd: ['echo', 'still here'], timeout: 30 });
    t.is(exec.stdout.toString().trim(), 'still here');
  });
}

test("image volumes a create the daemon died in had mounted are undone at its next start, a recorded container's at its removal", async (t) => {
  const first = await setUp(t);
  const { multilayer, busybox } = harnessImages();
  await call(first.images, 'PullImage', { image: { image: multilayer.reference } });
  const pod = podConfig(first, 'volumes', { sharedPid: false, cgroupParent: first.cgroupfsParent });
  const podId = await runPod(first, pod);
  const before = await snapshot(first);

  // An overlay of three layers and a read-only bind of a single one, with a sub-path.
  const mounts = [
    { containerPath: '/volume', readonly: true, image: { image: multilayer.reference } },
    { containerPath: '/tools', readonly: true, image: { image: busybox.reference }, imageSubPath: 'bin' },
  ];
  const recorded = await createContainer(first, podId, pod, containerConfig('recorded', ['sleep', '3600'], { mounts }));
  await call(first.runtime, 'StartContainer', { containerId: recorded });
  // Made in full, then its record taken back: what a daemon killed between mounting the volumes and saving the record leaves.
  const half = await createContainer(first, podId, pod, containerConfig('half', ['sleep', '3600'], { mounts }));
  first.daemon.signal('SIGKILL');
  await first.daemon.waitExit();
  await unlink(path.join(first.dir, 'root', 'containers', half, 'container.json'));

  const second = await restart(t, first);
  const exec = await call<{ stdout: Buffer }>(second.runtime, 'ExecSync', { containerId: recorded, cmd: ['cat', '/volume/etc/config'], timeout: 30 });
  t.is(exec.stdout.toString(), 'version=2\n');
  await call(second.runtime, 'RemoveContainer', { containerId: recorded });
  t.deepEqual(await snapshot(second), before);
});

test('a container the daemon died starting is running after the restart, not stuck as created', async (t) => {
  const first = await setUp(t);
  const pod = podConfig(first, 'starting', { sharedPid: false, cgroupParent: first.cgroupfsParent });
  const podId = await runPod(first, pod);
  const work = await createContainer(first, podId, pod, containerConfig('work', ['sleep', '3600']));
  const recordFile = path.join(first.dir, 'root', 'containers', work, 'container.json');
  const created = JSON.parse(await readFile(recordFile, 'utf8')) as Record<string, unknown>;
  await call(first.runtime, 'StartContainer', { containerId: work });
  const { startedAt } = JSON.parse(await readFile(recordFile, 'utf8')) as { startedAt: string };
  first.daemon.signal('SIGKILL');
  await first.daemon.waitExit();
  // What a daemon killed after `runc start`, before it recorded the start, leaves: the record as it was before the start began.
  const { state, startedAt: unset } = created;
  await writeFile(recordFile, JSON.stringify({ ...JSON.parse(await readFile(recordFile, 'utf8')), state, startedAt: unset }));

  const second = await restart(t, first);
  const status = await containerStatus(second, work);
  t.is(status.state, 'CONTAINER_RUNNING');
  // Known to the second, close to the first's: the start began before it.
  t.true(BigInt(status.startedAt) > 0n && BigInt(status.startedAt) <= BigInt(startedAt), `${status.startedAt} vs ${startedAt}`);
  const exec = await call<{ stdout: Buffer }>(second.runtime, 'ExecSync', { containerId: work, cmd: ['echo', 'started'], timeout: 30 });
  t.is(exec.stdout.toString().trim(), 'started');
  await call(second.runtime, 'StopContainer', { containerId: work, timeout: 0 });
  t.like(await containerStatus(second, work), { state: 'CONTAINER_EXITED', exitCode: 137 });
});

test('a pod removed while one of its containers is still being created takes that container with it', async (t) => {
  const setup = await setUp(t);
  const before = await snapshot(setup);
  for (let round = 0; round < 16; round++) {
    // Without a network, StopPodSandbox has no CNI DEL to take its time over: the create is still running when it ends.
    const pod = podConfig(setup, `racing-${round}`, { sharedPid: round % 2 === 1, cgroupParent: setup.cgroupfsParent, hostNetwork: true });
    const podId = await runPod(setup, pod);
    // What a kubelet does when its CreateContainer call timed out and it gives up on the pod: the create runs on.
    const creating = createContainer(setup, podId, pod, containerConfig('late', ['sleep', '3600'])).then(
      (id) => ({ id, error: null }),
      (error: grpc.ServiceError) => ({ id: null, error }),
    );
    // Each round lets the create get a little further first, so some rounds catch it after runc create, before its record.
    await sleep(round * 25);
    await call(setup.runtime, 'StopPodSandbox', { podSandboxId: podId });
    await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: podId });
    const created = await creating;
    // The stop waited for the create, so it finished in a pod that was still whole, and the removal took its container.
    t.is(created.error, null, created.error?.message);
    const listed = await call<{ containers: unknown[] }>(setup.runtime, 'ListContainers', {});
    t.deepEqual(listed.containers, []);
  }
  t.deepEqual(await snapshot(setup), before);
});

test('with pause containers, a pod whose pause image cannot be pulled, or whose seccomp profile is missing, fails and leaves the host as it was', async (t) => {
  const setup = await setUp(t, `${harnessRegistry().host}/crion-test/no-such-pause:1`, PAUSE_CONFIG);
  const before = await snapshot(setup);
  for (const hostNetwork of [false, true]) {
    await expectCode(
      t,
      runPod(setup, podConfig(setup, `no-pause-${hostNetwork}`, { sharedPid: true, cgroupParent: setup.sliceParent, hostNetwork })),
      grpc.status.NOT_FOUND,
      /no-such-pause/,
    );
  }
  t.deepEqual(await snapshot(setup), before);

  // Read for the pause container's spec, with its rootfs already mounted. A pod init, like a pod without a shared
  // PID namespace, has no OCI process for the pod-level profile to filter.
  const withPause = await setUp(t, undefined, PAUSE_CONFIG);
  const beforeSeccomp = await snapshot(withPause);
  await expectCode(
    t,
    runPod(
      withPause,
      podConfig(withPause, 'bad-seccomp', { sharedPid: true, cgroupParent: withPause.sliceParent, seccompRef: '/nonexistent/pod-seccomp.json' }),
    ),
    grpc.status.INVALID_ARGUMENT,
    /pod-seccomp\.json/,
  );
  t.deepEqual(await snapshot(withPause), beforeSeccomp);
});

for (const holder of ['pod-init', 'pause'] as const) {
  test(`pods and containers made and removed all at once leave the host as it was (shared PID namespaces with ${holder})`, async (t) => {
    const setup = await setUp(t, undefined, holder === 'pause' ? PAUSE_CONFIG : []);
    const before = await snapshot(setup);
    const PODS = 8;
    await Promise.all(
      Array.from({ length: PODS }, async (_, index) => {
        const pod = podConfig(setup, `parallel-${index}`, {
          sharedPid: index % 2 === 0,
          cgroupParent: index % 3 === 0 ? setup.sliceParent : setup.cgroupfsParent,
          hostPort: index % 4 === 0 ? nextHostPort() : undefined,
        });
        const podId = await runPod(setup, pod);
        const containers = await Promise.all(['a', 'b'].map((name) => createContainer(setup, podId, pod, containerConfig(name, ['sleep', '3600']))));
        await Promise.all(containers.map((containerId) => call(setup.runtime, 'StartContainer', { containerId })));
      }),
    );
    const pods = await call<{ items: Array<{ id: string }> }>(setup.runtime, 'ListPodSandbox', {});
    t.is(pods.items.length, PODS);
    // Half stopped first as the kubelet does, half removed outright.
    await Promise.all(
      pods.items.map(async (pod, index) => {
        if (index % 2 === 0) await call(setup.runtime, 'StopPodSandbox', { podSandboxId: pod.id });
        await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: pod.id });
      }),
    );
    t.deepEqual(await snapshot(setup), before);
  });
}
