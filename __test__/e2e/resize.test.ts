import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  call,
  containerConfig,
  containerStatus,
  createContainer,
  expectCode,
  podConfig,
  runPod,
  setUp,
  useHarness,
  type Setup,
} from '../helpers/leak-harness.js';

/**
 * In-place resize (KEP-1287) on a real daemon and runc: UpdateContainerResources
 * reaches the running container's cgroup and ContainerStatus, a memory limit
 * below what the container holds is refused before the kernel could enforce it
 * by killing, and UpdatePodSandboxResources records the pod-level figures.
 */

useHarness(test);

const MIB = 1024 * 1024;

interface LinuxResources {
  memoryLimitInBytes?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
}

async function memoryLimitFile(pid: number): Promise<string> {
  const cgroups = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = /^\d+:memory:(.*)$/m.exec(cgroups)?.[1];
  if (v1 !== undefined) return path.join('/sys/fs/cgroup/memory', v1, 'memory.limit_in_bytes');
  return path.join('/sys/fs/cgroup', /^0::(.*)$/m.exec(cgroups)![1]!, 'memory.max');
}

async function statusResources(setup: Setup, id: string): Promise<LinuxResources | undefined> {
  const { status } = await call<{ status: { resources?: { linux?: LinuxResources } } }>(setup.runtime, 'ContainerStatus', { containerId: id });
  return status.resources?.linux;
}

test('UpdateContainerResources resizes a running container; a memory limit below its working set is FAILED_PRECONDITION and changes nothing', async (t) => {
  t.timeout(120_000);
  const setup = await setUp(t);
  const pod = podConfig(setup, 'resize', { sharedPid: false, cgroupParent: setup.cgroupfsParent });
  const podId = await runPod(setup, pod);
  // 40 MiB in the pod's /dev/shm tmpfs: charged to the container and, without swap, not reclaimable.
  const config = containerConfig('holder', ['sh', '-c', 'head -c 41943040 /dev/zero > /dev/shm/fill && touch /tmp/filled && exec sleep 3600'], {
    linux: { resources: { memoryLimitInBytes: String(256 * MIB) } },
  });
  const id = await createContainer(setup, podId, pod, config);
  await call(setup.runtime, 'StartContainer', { containerId: id });
  const { pid } = await containerStatus(setup, id);
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const probe = await call<{ exitCode: number }>(setup.runtime, 'ExecSync', { containerId: id, cmd: ['test', '-e', '/tmp/filled'], timeout: 5 });
    if (probe.exitCode === 0) break;
    await sleep(100);
  }
  const limitFile = await memoryLimitFile(pid);
  t.is((await readFile(limitFile, 'utf8')).trim(), String(256 * MIB));

  await expectCode(
    t,
    call(setup.runtime, 'UpdateContainerResources', { containerId: id, linux: { memoryLimitInBytes: String(16 * MIB) } }),
    grpc.status.FAILED_PRECONDITION,
    /memory_limit_in_bytes 16777216 is below the \d+ bytes container \w+ is using/,
  );
  t.is((await readFile(limitFile, 'utf8')).trim(), String(256 * MIB), 'the cgroup keeps its limit');
  t.is((await statusResources(setup, id))?.memoryLimitInBytes, String(256 * MIB), 'the status keeps reporting the limit in force');
  t.is((await containerStatus(setup, id)).state, 'CONTAINER_RUNNING');

  await call(setup.runtime, 'UpdateContainerResources', {
    containerId: id,
    linux: { memoryLimitInBytes: String(96 * MIB), cpuPeriod: '100000', cpuQuota: '50000' },
  });
  t.is((await readFile(limitFile, 'utf8')).trim(), String(96 * MIB));
  t.like(await statusResources(setup, id), { memoryLimitInBytes: String(96 * MIB), cpuPeriod: '100000', cpuQuota: '50000' });
  t.is((await containerStatus(setup, id)).state, 'CONTAINER_RUNNING', 'a shrink above the working set keeps the container');
});

test('UpdatePodSandboxResources records the pod-level figures in the pod config; an unknown pod is NOT_FOUND and bad limits INVALID_ARGUMENT', async (t) => {
  t.timeout(60_000);
  const setup = await setUp(t);
  const podId = await runPod(setup, podConfig(setup, 'pod-resize', { sharedPid: false, cgroupParent: setup.cgroupfsParent }));
  const recorded = async () => {
    const { info } = await call<{ info: Record<string, string> }>(setup.runtime, 'PodSandboxStatus', { podSandboxId: podId, verbose: true });
    return (JSON.parse(info.info!) as { config: { linux: { resources?: LinuxResources; overhead?: LinuxResources } } }).config.linux;
  };

  await call(setup.runtime, 'UpdatePodSandboxResources', {
    podSandboxId: podId,
    overhead: { memoryLimitInBytes: String(8 * MIB) },
    resources: { memoryLimitInBytes: String(128 * MIB), cpuQuota: '20000', cpuPeriod: '100000' },
  });
  let linux = await recorded();
  t.like(linux.resources, { memoryLimitInBytes: String(128 * MIB), cpuQuota: '20000' });
  t.like(linux.overhead, { memoryLimitInBytes: String(8 * MIB) });

  // Only the resources this time: the overhead stays as it was.
  await call(setup.runtime, 'UpdatePodSandboxResources', { podSandboxId: podId, resources: { memoryLimitInBytes: String(64 * MIB) } });
  linux = await recorded();
  t.is(linux.resources?.memoryLimitInBytes, String(64 * MIB));
  t.is(linux.overhead?.memoryLimitInBytes, String(8 * MIB));

  await expectCode(
    t,
    call(setup.runtime, 'UpdatePodSandboxResources', { podSandboxId: 'f'.repeat(64), resources: { memoryLimitInBytes: String(64 * MIB) } }),
    grpc.status.NOT_FOUND,
    /pod sandbox "f+" not found/,
  );
  await expectCode(
    t,
    call(setup.runtime, 'UpdatePodSandboxResources', { podSandboxId: podId, resources: { cpusetCpus: '0-' } }),
    grpc.status.INVALID_ARGUMENT,
    /cpuset_cpus/,
  );
  t.deepEqual(await recorded(), linux, 'a refused update leaves the record as it was');
});
