import test, { type ExecutionContext } from 'ava';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  call,
  containerConfig,
  containerStatus,
  createContainer,
  harnessImages,
  podConfig,
  restart,
  runPod,
  setUp,
  snapshot,
  useHarness,
  type Setup,
} from '../helpers/leak-harness.js';
import { hostPort } from '../helpers/host-ports.js';

/**
 * The daemon killed with SIGKILL at seeded random moments of RunPodSandbox,
 * CreateContainer, StartContainer, StopPodSandbox and PullImage. After each
 * restart every object the daemon lists is whole and usable (a READY pod
 * runs a container, a created container starts, a running one execs, a
 * listed image runs) or honestly not (a NOTREADY pod, which the kubelet
 * replaces), and once everything is removed the host is as it was: no
 * mount, cgroup, lease, process, record or layer left behind.
 *
 * CRION_FAULT_SEED replays a run: the moments are fractions of each
 * operation's own duration, measured first, so they land at the same
 * points of the work on a slower or faster machine.
 */

useHarness(test);

const SEED = Number(process.env.CRION_FAULT_SEED ?? 20261204);
const ROUNDS_PER_OPERATION = 5;
/** Past the operation's measured duration too: a kill just after it answered must be survived as well. */
const WINDOW_PAST_DURATION = 1.2;

/** mulberry32: a small seeded generator, so a failing run can be replayed exactly. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

interface Operation {
  readonly name: string;
  /** Makes what the operation needs (a pod, a created container) and returns the call to interrupt. */
  prepare(setup: Setup, round: number): Promise<() => Promise<unknown>>;
}

function roundPod(setup: Setup, round: number) {
  return podConfig(setup, `fault-${round}`, {
    sharedPid: round % 2 === 0,
    cgroupParent: setup.cgroupfsParent,
    hostPort: hostPort('fault-injection', round),
  });
}

const OPERATIONS: readonly Operation[] = [
  {
    name: 'RunPodSandbox',
    prepare: async (setup, round) => () => runPod(setup, roundPod(setup, round)),
  },
  {
    name: 'CreateContainer',
    prepare: async (setup, round) => {
      const pod = roundPod(setup, round);
      const podId = await runPod(setup, pod);
      return () => createContainer(setup, podId, pod, containerConfig('work', ['sleep', '3600']));
    },
  },
  {
    name: 'StartContainer',
    prepare: async (setup, round) => {
      const pod = roundPod(setup, round);
      const podId = await runPod(setup, pod);
      const containerId = await createContainer(setup, podId, pod, containerConfig('work', ['sleep', '3600']));
      return () => call(setup.runtime, 'StartContainer', { containerId });
    },
  },
  {
    name: 'StopPodSandbox',
    prepare: async (setup, round) => {
      const pod = roundPod(setup, round);
      const podId = await runPod(setup, pod);
      // Leaves at SIGTERM (a plain sleep as PID 1 ignores it), so the kill points fall on the pod's own teardown, not a grace period.
      const containerId = await createContainer(
        setup,
        podId,
        pod,
        containerConfig('work', ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done']),
      );
      await call(setup.runtime, 'StartContainer', { containerId });
      return () => call(setup.runtime, 'StopPodSandbox', { podSandboxId: podId });
    },
  },
  {
    name: 'PullImage',
    prepare: async (setup) => () => call(setup.images, 'PullImage', { image: { image: harnessImages().zstd.reference } }),
  },
];

/** The image store's own files: layers, their links, staging and image records. Not in the host snapshot, which other tests share layers under. */
async function imageStoreOf(setup: Setup): Promise<string[]> {
  const root = path.join(setup.dir, 'root');
  const listings = await Promise.all(
    [path.join('overlay', 'layers'), path.join('overlay', 'l'), path.join('overlay', 'staging'), 'images'].map(async (dir) =>
      (await readdir(path.join(root, dir)).catch(() => [])).map((name) => path.join(dir, name)),
    ),
  );
  return listings.flat().sort();
}

interface Pod {
  id: string;
  state: string;
  metadata: { name: string };
}

interface Container {
  id: string;
  podSandboxId: string;
  state: string;
  metadata: { name: string };
}

/** Proves every listed object usable, or fails the test naming it; returns what it found, for the log. */
async function checkUsable(t: ExecutionContext, setup: Setup, round: number): Promise<string> {
  const found: string[] = [];
  const { items: pods } = await call<{ items: Pod[] }>(setup.runtime, 'ListPodSandbox', {});
  const { containers } = await call<{ containers: Container[] }>(setup.runtime, 'ListContainers', {});
  for (const pod of pods) {
    found.push(`pod ${pod.state === 'SANDBOX_READY' ? 'READY' : 'NOTREADY'}`);
    if (pod.state !== 'SANDBOX_READY') continue;
    const { status } = await call<{ status: { network: { ip: string } } }>(setup.runtime, 'PodSandboxStatus', { podSandboxId: pod.id });
    t.regex(status.network.ip, /^\d+\.\d+\.\d+\.\d+$/, `round ${round}: a READY pod has its IP`);
    const config = roundPod(setup, round);
    const probe = await createContainer(setup, pod.id, config, containerConfig('probe', ['sleep', '3600']));
    await call(setup.runtime, 'StartContainer', { containerId: probe });
    await expectExec(t, setup, probe, `round ${round}: a container in a READY pod runs`);
  }
  for (const container of containers) {
    const state = container.state;
    found.push(`container ${state.replace('CONTAINER_', '')}`);
    const pod = pods.find((candidate) => candidate.id === container.podSandboxId);
    t.truthy(pod, `round ${round}: container ${container.metadata.name} has its pod`);
    if (pod?.state !== 'SANDBOX_READY') continue;
    if (state === 'CONTAINER_CREATED') {
      await call(setup.runtime, 'StartContainer', { containerId: container.id });
      await expectExec(t, setup, container.id, `round ${round}: a created container starts and runs`);
    } else if (state === 'CONTAINER_RUNNING') {
      await expectExec(t, setup, container.id, `round ${round}: a running container runs`);
    } else {
      // A StopPodSandbox cut off after stopping the containers: the kubelet's retry finishes it; the exit must be on record.
      t.is(state, 'CONTAINER_EXITED', `round ${round}: container ${container.metadata.name}`);
      t.not((await containerStatus(setup, container.id)).reason, '', `round ${round}: an exited container says why`);
    }
  }
  const { image } = await call<{ image: object | null }>(setup.images, 'ImageStatus', { image: { image: harnessImages().zstd.reference } });
  if (image !== null) {
    found.push('image');
    await expectImageRuns(t, setup, round);
  }
  return found.length === 0 ? 'nothing' : found.join(', ');
}

async function expectExec(t: ExecutionContext, setup: Setup, containerId: string, what: string): Promise<void> {
  const exec = await call<{ stdout: Buffer; exitCode: number }>(setup.runtime, 'ExecSync', { containerId, cmd: ['echo', 'alive'], timeout: 30 });
  t.is(exec.stdout.toString().trim(), 'alive', what);
}

/** A listed image has every layer: a container of it reads the file of its top layer. */
async function expectImageRuns(t: ExecutionContext, setup: Setup, round: number): Promise<void> {
  const pod = podConfig(setup, `image-check-${round}`, { sharedPid: false, cgroupParent: setup.cgroupfsParent, hostNetwork: true });
  const podId = await runPod(setup, pod);
  const reader = await createContainer(
    setup,
    podId,
    pod,
    containerConfig('reader', ['cat', '/etc/compression'], { image: harnessImages().zstd.reference }),
  );
  await call(setup.runtime, 'StartContainer', { containerId: reader });
  for (let status = await containerStatus(setup, reader); status.state !== 'CONTAINER_EXITED'; status = await containerStatus(setup, reader))
    await sleep(50);
  t.like(await containerStatus(setup, reader), { exitCode: 0 }, `round ${round}: the listed image runs`);
}

/** Removes every pod and the pulled image, as the kubelet and its image GC would. */
async function removeEverything(setup: Setup): Promise<void> {
  const { items: pods } = await call<{ items: Pod[] }>(setup.runtime, 'ListPodSandbox', {});
  for (const pod of pods) {
    await call(setup.runtime, 'StopPodSandbox', { podSandboxId: pod.id });
    await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: pod.id });
  }
  await call(setup.images, 'RemoveImage', { image: { image: harnessImages().zstd.reference } });
}

/** How long each operation takes when nothing interrupts it, so the kill points spread over its whole course. */
async function measureDurations(setup: Setup): Promise<Map<string, number>> {
  const durations = new Map<string, number>();
  for (const [index, operation] of OPERATIONS.entries()) {
    const run = await operation.prepare(setup, 100 + index);
    const started = performance.now();
    await run();
    durations.set(operation.name, performance.now() - started);
    await removeEverything(setup);
  }
  return durations;
}

test(`the daemon killed at ${OPERATIONS.length * ROUNDS_PER_OPERATION} seeded points leaves only usable objects and nothing behind`, async (t) => {
  let setup = await setUp(t);
  const durations = await measureDurations(setup);
  t.log(`seed ${SEED}; undisturbed: ${[...durations].map(([name, ms]) => `${name} ${Math.round(ms)} ms`).join(', ')}`);
  const before = await snapshot(setup);
  const imageStoreBefore = await imageStoreOf(setup);
  const random = seededRandom(SEED);

  for (let round = 0; round < OPERATIONS.length * ROUNDS_PER_OPERATION; round++) {
    const operation = OPERATIONS[round % OPERATIONS.length]!;
    const killAfterMs = Math.round(random() * durations.get(operation.name)! * WINDOW_PAST_DURATION);
    const run = await operation.prepare(setup, round);
    const interrupted = run().then(
      () => 'answered',
      () => 'cut off',
    );
    await sleep(killAfterMs);
    setup.daemon.signal('SIGKILL');
    await setup.daemon.waitExit();
    const answer = await interrupted;
    setup = await restart(t, setup);
    const found = await checkUsable(t, setup, round);
    t.log(`round ${round}: ${operation.name} killed after ${killAfterMs} ms (${answer}); after the restart: ${found}`);
    await removeEverything(setup);
    t.deepEqual(await snapshot(setup), before, `round ${round}: the host after removing everything`);
    t.deepEqual(await imageStoreOf(setup), imageStoreBefore, `round ${round}: the image store after removing the image`);
  }
  // The store is not poisoned either: the image pulls and runs once more.
  await call(setup.images, 'PullImage', { image: { image: harnessImages().zstd.reference } });
  await expectImageRuns(t, setup, OPERATIONS.length * ROUNDS_PER_OPERATION);
});
