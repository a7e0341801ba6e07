import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { workingCriu } from '../helpers/criu.js';
import { root, testNeeding } from '../helpers/host-requirements.js';
import {
  call,
  containerConfig,
  containerStatus,
  createContainer,
  expectCode,
  harnessImages,
  podConfig,
  runPod,
  setUp,
  snapshot,
  useHarness,
  waitExited,
  type Setup,
} from '../helpers/leak-harness.js';

/**
 * CheckpointPod and RestorePod through a gRPC client: one consistent cut of
 * a pod's containers that all run on afterwards, a new pod whose CREATED
 * containers carry on from it once started, and bad requests refused with
 * precise codes, leaving neither files, frozen containers nor pods.
 */

useHarness(test);
const withCriu = testNeeding(root, workingCriu);

// Written through a rename, so a reader never sees the file truncated and empty.
const COUNTER = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done'];

async function counterPod(t: ExecutionContext, name: string) {
  const setup = await setUp(t);
  const before = await snapshot(setup);
  const pod = podConfig(setup, name, { sharedPid: false, cgroupParent: setup.cgroupfsParent });
  const podId = await runPod(setup, pod);
  const ids: string[] = [];
  for (const container of ['first', 'second']) {
    const id = await createContainer(setup, podId, pod, containerConfig(container, COUNTER));
    await call(setup.runtime, 'StartContainer', { containerId: id });
    ids.push(id);
  }
  for (const id of ids) while ((await count(setup, id)) < 20) await sleep(100);
  return { setup, before, pod, podId, ids };
}

async function count(setup: Setup, id: string): Promise<number> {
  const { stdout } = await call<{ stdout: Buffer }>(setup.runtime, 'ExecSync', { containerId: id, cmd: ['cat', '/tmp/count'], timeout: 10 });
  return Number(stdout.toString().trim());
}

/** The counters move on: nothing was left paused. */
async function assertCounting(t: ExecutionContext, setup: Setup, ids: readonly string[]): Promise<void> {
  const before = await Promise.all(ids.map((id) => count(setup, id)));
  await sleep(400);
  const after = await Promise.all(ids.map((id) => count(setup, id)));
  ids.forEach((id, position) => t.true(after[position]! > before[position]!, `container ${id} counts on: ${before[position]} → ${after[position]}`));
}

async function removeAllPods(setup: Setup): Promise<void> {
  const { items } = await call<{ items: Array<{ id: string }> }>(setup.runtime, 'ListPodSandbox', {});
  for (const pod of items) await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: pod.id });
}

withCriu('CheckpointPod captures a running pod that carries on; RestorePod makes CREATED containers that resume from it', async (t) => {
  const { setup, before, podId, ids } = await counterPod(t, 'checkpointed');
  const output = path.join(setup.dir, 'pod-checkpoint');
  await mkdir(output);
  const counted = await Promise.all(ids.map((id) => count(setup, id)));
  await call(setup.runtime, 'CheckpointPod', { podSandboxId: podId, outputPath: output, containerIds: ids }, { deadline: Date.now() + 60_000 });
  t.deepEqual((await readdir(output)).sort(), ['container-0.tar', 'container-1.tar', 'pod.json']);
  await assertCounting(t, setup, ids);
  for (const id of ids) t.is((await containerStatus(setup, id)).state, 'CONTAINER_RUNNING');

  const restoredPod = podConfig(setup, 'restored', { sharedPid: false, cgroupParent: setup.cgroupfsParent });
  const restored = await call<{ podSandboxId: string; restoredContainers: Array<{ name: string; containerId: string }> }>(
    setup.runtime,
    'RestorePod',
    {
      checkpointPath: output,
      config: restoredPod,
      runtimeHandler: '',
      // The kubelet sends the pod spec's containers, command included; the checkpoint decides the process. An image may
      // be named by its ID too.
      containerConfigs: [containerConfig('second', COUNTER, { image: harnessImages().busybox.configDigest }), containerConfig('first', COUNTER)],
    },
    { deadline: Date.now() + 60_000 },
  );
  setup.ids.add(restored.podSandboxId);
  t.deepEqual(restored.restoredContainers.map((container) => container.name).sort(), ['first', 'second']);
  for (const { containerId } of restored.restoredContainers) {
    setup.ids.add(containerId);
    const status = await containerStatus(setup, containerId);
    t.is(status.state, 'CONTAINER_CREATED');
    t.is(status.pid, 0, 'the restored process has not run before StartContainer');
  }
  const { containers } = await call<{ containers: unknown[] }>(setup.runtime, 'ListContainers', {
    filter: { podSandboxId: restored.podSandboxId },
  });
  t.is(containers.length, 2);

  for (const { name, containerId } of restored.restoredContainers) {
    await call(setup.runtime, 'StartContainer', { containerId });
    await sleep(300);
    const value = await count(setup, containerId);
    const original = counted[name === 'first' ? 0 : 1]!;
    t.true(value > original, `${name} resumed at ${value}, past ${original} where the original was before the checkpoint`);
  }
  await assertCounting(
    t,
    setup,
    restored.restoredContainers.map((container) => container.containerId),
  );

  await removeAllPods(setup);
  t.deepEqual(await snapshot(setup), before);
});

withCriu('bad CheckpointPod requests get precise codes and leave no files and no paused container', async (t) => {
  const { setup, before, pod, podId, ids } = await counterPod(t, 'refused');
  const output = path.join(setup.dir, 'refused-checkpoint');
  await mkdir(output);
  const request = { podSandboxId: podId, outputPath: output, containerIds: ids };
  const other = podConfig(setup, 'other', { sharedPid: false, cgroupParent: setup.cgroupfsParent });
  const otherPod = await runPod(setup, other);
  const stranger = await createContainer(setup, otherPod, other, containerConfig('stranger', ['sleep', '300']));
  await call(setup.runtime, 'StartContainer', { containerId: stranger });
  const finished = await createContainer(setup, podId, pod, containerConfig('finished', ['true']));
  await call(setup.runtime, 'StartContainer', { containerId: finished });
  await waitExited(setup, finished);
  const occupied = path.join(setup.dir, 'occupied');
  await mkdir(occupied);
  await writeFile(path.join(occupied, 'file'), 'x');

  const cases: Array<[object, grpc.status, RegExp]> = [
    [{ options: { 'leave-frozen': 'true' } }, grpc.status.INVALID_ARGUMENT, /unknown option\(s\) leave-frozen; crion supports none/],
    [{ outputPath: 'relative' }, grpc.status.INVALID_ARGUMENT, /output_path must be an absolute path, not "relative"/],
    [{ outputPath: path.join(setup.dir, 'missing') }, grpc.status.INVALID_ARGUMENT, /missing is not an existing directory/],
    [{ outputPath: occupied }, grpc.status.INVALID_ARGUMENT, /occupied is not empty/],
    [{ containerIds: [] }, grpc.status.INVALID_ARGUMENT, /CheckpointPod needs container_ids/],
    [{ containerIds: [ids[0], ids[0]] }, grpc.status.INVALID_ARGUMENT, /container_ids has duplicates/],
    [{ podSandboxId: 'f00d' }, grpc.status.NOT_FOUND, /pod sandbox "f00d" not found/],
    [{ containerIds: [...ids, stranger] }, grpc.status.INVALID_ARGUMENT, /is not in pod sandbox/],
    [{ containerIds: [...ids, finished] }, grpc.status.FAILED_PRECONDITION, new RegExp(`container ${finished} is not running`)],
  ];
  for (const [change, code, message] of cases) {
    await expectCode(t, call(setup.runtime, 'CheckpointPod', { ...request, ...change }), code, message);
  }
  t.deepEqual(await readdir(output), []);
  t.deepEqual(await readdir(occupied), ['file']);
  await assertCounting(t, setup, ids);

  // A deadline that passes mid-checkpoint: the caller has its error at once; the runtime still resumes the pod and empties the directory.
  await expectCode(
    t,
    call(setup.runtime, 'CheckpointPod', request, { deadline: Date.now() + 150 }),
    grpc.status.DEADLINE_EXCEEDED,
    /Deadline exceeded/,
  );
  await sleep(3000);
  t.deepEqual(await readdir(output), []);
  await assertCounting(t, setup, ids);

  await removeAllPods(setup);
  t.deepEqual(await snapshot(setup), before);
});

withCriu('bad RestorePod requests are refused, and a restore failing part way removes the pod it made', async (t) => {
  const { setup, before, podId, ids } = await counterPod(t, 'source');
  const output = path.join(setup.dir, 'source-checkpoint');
  await mkdir(output);
  await call(setup.runtime, 'CheckpointPod', { podSandboxId: podId, outputPath: output, containerIds: ids }, { deadline: Date.now() + 60_000 });
  await removeAllPods(setup);
  const configs = ['first', 'second'].map((name) => containerConfig(name, COUNTER));
  const request = {
    checkpointPath: output,
    config: podConfig(setup, 'target', { sharedPid: false, cgroupParent: setup.cgroupfsParent }),
    containerConfigs: configs,
  };
  const busybox = harnessImages().busybox.reference;

  const cases: Array<[object, grpc.status, RegExp]> = [
    [{ options: { lazy: 'yes' } }, grpc.status.INVALID_ARGUMENT, /RestorePod: unknown option\(s\) lazy; crion supports none/],
    [{ checkpointPath: 'relative' }, grpc.status.INVALID_ARGUMENT, /checkpoint_path must be an absolute path/],
    [{ checkpointPath: setup.dir }, grpc.status.INVALID_ARGUMENT, /is not a crion pod checkpoint/],
    [{ containerConfigs: [] }, grpc.status.INVALID_ARGUMENT, /RestorePod needs container_configs/],
    [{ containerConfigs: [configs[0]] }, grpc.status.INVALID_ARGUMENT, /container_configs name first; the checkpoint holds first, second/],
    [{ containerConfigs: [configs[0], configs[0]] }, grpc.status.INVALID_ARGUMENT, /container_configs repeat a name/],
    [
      { containerConfigs: [configs[0], containerConfig('second', COUNTER, { image: `${busybox}-other` })] },
      grpc.status.INVALID_ARGUMENT,
      /container second: image .* is not .*which the checkpoint was made from/,
    ],
    [{ runtimeHandler: 'no-such-handler' }, grpc.status.NOT_FOUND, /no-such-handler/],
  ];
  for (const [change, code, message] of cases) {
    await expectCode(t, call(setup.runtime, 'RestorePod', { ...request, ...change }), code, message);
  }

  // The second archive is broken: the pod and the first container are made, then all of it is removed again.
  await writeFile(path.join(output, 'container-1.tar'), 'not a tar file');
  await expectCode(t, call(setup.runtime, 'RestorePod', request), grpc.status.INVALID_ARGUMENT, /container-1\.tar is not a checkpoint archive/);
  t.deepEqual((await call<{ items: unknown[] }>(setup.runtime, 'ListPodSandbox', {})).items, []);
  t.deepEqual((await call<{ containers: unknown[] }>(setup.runtime, 'ListContainers', {})).containers, []);
  t.deepEqual(await snapshot(setup), before);
});
