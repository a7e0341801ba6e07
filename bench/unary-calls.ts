import * as grpc from '@grpc/grpc-js';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { loadCriPackage } from '../src/cri/proto.js';
import { CONTAINER_IMAGE, PodRig, processMemory, SLEEPER, type PodRuntime, type ProcessMemory, type RuntimeName } from './pods.js';
import { formatNumber, goalsOutcome, median, percentile, ratioGoal, type Benchmark, type Outcome } from './report.js';

/**
 * The small unary calls the kubelet polls (its relist every second, its
 * stats and image checks), on a node with its default 110 pods: each call
 * timed on one long-lived @grpc/grpc-js connection per runtime, so the
 * client's share is the same for both, and the daemons' memory with those
 * pods running.
 */

/** The kubelet's default max-pods; CRION_BENCH_UNARY_PODS lowers it on a machine too loaded to start that many. */
const PODS = Number(process.env.CRION_BENCH_UNARY_PODS ?? 110);
/** Pods started at once, as the kubelet starts a burst of them. */
const START_CONCURRENCY = 10;
/** Calls of each RPC per runtime, at least: a p90 needs a tail to stand on. */
const MIN_CALLS = 50;
const WARMUP = 10;
const CALL_DEADLINE_MS = 10_000;
/** Lets helpers and the daemon settle after the last start before memory is read. */
const SETTLE_MS = 2000;
const TARGET_RATIO = 1.0;

const RPCS = [
  'Version',
  'Status',
  'ListPodSandbox',
  'ListContainers',
  'PodSandboxStatus',
  'ContainerStatus',
  'ImageStatus',
  'ListImages',
  'ListContainerStats',
  'ListPodSandboxStats',
] as const;
type Rpc = (typeof RPCS)[number];

interface Sample {
  readonly runtime: RuntimeName;
  readonly rpc: Rpc;
  readonly ms: number;
}

interface Target {
  readonly runtime: PodRuntime;
  readonly idle: ProcessMemory;
  readonly call: Record<Rpc, () => Promise<unknown>>;
}

export const unaryCalls: Benchmark = {
  id: 'unary-calls',
  title: `Polled unary CRI calls with ${PODS} pods: crion vs containerd`,
  target: `each call's median ≤ ${TARGET_RATIO.toFixed(1)}× containerd's with ${PODS} pods running; the daemon's RSS with them ≤ containerd's`,
  async run(context) {
    if (!Number.isInteger(PODS) || PODS < 1) throw new Error(`CRION_BENCH_UNARY_PODS must be a positive integer, got ${PODS}`);
    const rig = await PodRig.start(context);
    const started: { runtime: PodRuntime; close: () => void }[] = [];
    try {
      const targets: Target[] = [];
      for (const name of ['crion', 'containerd'] as const) {
        context.progress(`unary calls: starting ${name} and ${PODS} pods, ${START_CONCURRENCY} at a time`);
        const runtime = await rig.start(name);
        const idle = processMemory(runtime.daemonPid);
        const { runtimeCall, imageCall, close } = clientsFor(runtime);
        started.push({ runtime, close });
        const pods = await startPods(runtime, runtimeCall, PODS);
        targets.push({ runtime, idle, call: polledCalls(runtimeCall, imageCall, pods[Math.floor(pods.length / 2)]!) });
      }
      await sleep(SETTLE_MS);
      const withPods = targets.map(({ runtime }) => processMemory(runtime.daemonPid));
      const calls = Math.max(MIN_CALLS, context.runs);
      context.progress(`unary calls: ${calls} calls of each of ${RPCS.length} RPCs per runtime`);
      for (const { call } of targets) for (const rpc of RPCS) for (let n = 0; n < WARMUP; n++) await call[rpc]();
      const samples: Sample[] = [];
      // Alternating runtime by runtime within each round, so drift in the machine's load lands on both.
      for (let n = 0; n < calls; n++) {
        for (const rpc of RPCS) {
          for (const { runtime, call } of targets) {
            const begun = performance.now();
            await call[rpc]();
            samples.push({ runtime: runtime.name, rpc, ms: performance.now() - begun });
          }
        }
      }
      const afterCalls = targets.map(({ runtime }) => processMemory(runtime.daemonPid));
      return outcome(
        samples,
        targets.map(({ runtime, idle }, index) => ({
          name: runtime.name,
          label: runtime.label,
          idle,
          withPods: withPods[index]!,
          afterCalls: afterCalls[index]!,
        })),
      );
    } finally {
      for (const { runtime, close } of started) {
        close();
        await runtime.dispose();
      }
      removeCgroupParents();
      await rig.dispose();
    }
  },
};

/**
 * Every pod's cgroup_parent lies below this cgroupfs directory, as the
 * kubelet puts its pods below kubepods: containerd 1.6 answers
 * ListPodSandboxStats only for pods that have one.
 */
const CGROUP_PARENT = `/crion-bench-unary-${process.pid}`;

/** The directories the runtimes made below CGROUP_PARENT in each hierarchy, deepest first; they are empty once the pods are gone. */
function removeCgroupParents(): void {
  const remove = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(dir, entry.name));
    rmdirSync(dir);
  };
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) remove(path.join('/sys/fs/cgroup', hierarchy, CGROUP_PARENT));
}

interface StartedPod {
  readonly podId: string;
  readonly containerId: string;
}

/**
 * `count` pods, one sleeping container each, started `START_CONCURRENCY` at
 * a time through `client`'s RunPodSandbox, CreateContainer and
 * StartContainer, with the configs the kubelet sends for a host-network pod
 * (PID namespace per container, a cgroup_parent).
 */
async function startPods(runtime: PodRuntime, unary: UnaryCall, count: number): Promise<StartedPod[]> {
  const pods: StartedPod[] = [];
  let next = 0;
  const namespaceOptions = { network: 'NODE', pid: 'CONTAINER' };
  const startOne = async (index: number): Promise<StartedPod> => {
    const name = `${runtime.name}-unary-${index}`;
    const podConfig = {
      metadata: { name, namespace: 'crion-bench', uid: `uid-${name}`, attempt: 0 },
      logDirectory: path.join(os.tmpdir(), 'unary-calls-logs', name),
      linux: { cgroupParent: `${CGROUP_PARENT}/pod${index}`, securityContext: { namespaceOptions } },
    };
    await mkdir(podConfig.logDirectory, { recursive: true });
    const { podSandboxId } = (await unary('RunPodSandbox', { config: podConfig })) as { podSandboxId: string };
    const { containerId } = (await unary('CreateContainer', {
      podSandboxId,
      sandboxConfig: podConfig,
      config: {
        metadata: { name: 'sleeper' },
        image: { image: CONTAINER_IMAGE },
        command: SLEEPER,
        logPath: 'sleeper.log',
        linux: { securityContext: { namespaceOptions } },
      },
    })) as { containerId: string };
    await unary('StartContainer', { containerId });
    return { podId: podSandboxId, containerId };
  };
  const worker = async (): Promise<void> => {
    while (next < count) pods.push(await startOne(next++));
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, count) }, worker));
  return pods;
}

type UnaryCall = (rpc: string, request: object, deadlineMs?: number) => Promise<unknown>;

/** One RuntimeService and one ImageService client on `runtime`, sharing one channel as the kubelet's share its connection. */
function clientsFor(runtime: PodRuntime): { runtimeCall: UnaryCall; imageCall: UnaryCall; close: () => void } {
  const cri = loadCriPackage();
  const runtimeClient = new cri.RuntimeService(runtime.endpoint, grpc.credentials.createInsecure()) as unknown as grpc.Client;
  const imageClient = new cri.ImageService(runtime.endpoint, grpc.credentials.createInsecure(), {
    channelOverride: runtimeClient.getChannel(),
  }) as unknown as grpc.Client;
  const caller =
    (client: grpc.Client): UnaryCall =>
    (rpc, request, deadlineMs = CALL_DEADLINE_MS) =>
      new Promise((resolve, reject) => {
        const method = (client as unknown as Record<string, (...args: unknown[]) => void>)[rpc]!;
        method.call(client, request, { deadline: Date.now() + deadlineMs }, (error: grpc.ServiceError | null, response: unknown) =>
          error ? reject(runtime.failure(`${rpc} against ${runtime.label}: ${error.message}`)) : resolve(response),
        );
      });
  return { runtimeCall: caller(runtimeClient), imageCall: caller(imageClient), close: () => runtimeClient.close() };
}

/** Each polled RPC with a request about `pod`, answered or thrown. */
function polledCalls(runtimeCall: UnaryCall, imageCall: UnaryCall, pod: StartedPod): Record<Rpc, () => Promise<unknown>> {
  const image = { image: CONTAINER_IMAGE };
  return {
    Version: () => runtimeCall('Version', { version: 'v1' }),
    Status: () => runtimeCall('Status', {}),
    ListPodSandbox: () => runtimeCall('ListPodSandbox', {}),
    ListContainers: () => runtimeCall('ListContainers', {}),
    PodSandboxStatus: () => runtimeCall('PodSandboxStatus', { podSandboxId: pod.podId }),
    ContainerStatus: () => runtimeCall('ContainerStatus', { containerId: pod.containerId }),
    ImageStatus: () => imageCall('ImageStatus', { image }),
    ListImages: () => imageCall('ListImages', {}),
    ListContainerStats: () => runtimeCall('ListContainerStats', {}),
    ListPodSandboxStats: () => runtimeCall('ListPodSandboxStats', {}),
  };
}

interface DaemonMemory {
  readonly name: RuntimeName;
  readonly label: string;
  readonly idle: ProcessMemory;
  readonly withPods: ProcessMemory;
  readonly afterCalls: ProcessMemory;
}

function outcome(samples: readonly Sample[], daemons: readonly DaemonMemory[]): Outcome {
  const of = (name: RuntimeName, rpc: Rpc): number[] => samples.filter((s) => s.runtime === name && s.rpc === rpc).map((s) => s.ms);
  const ratio = (rpc: Rpc): number => median(of('crion', rpc)) / median(of('containerd', rpc));
  const rows = RPCS.map((rpc) => {
    const crion = of('crion', rpc);
    const containerd = of('containerd', rpc);
    return [
      rpc,
      formatNumber(median(crion), 2),
      formatNumber(percentile(crion, 90), 2),
      formatNumber(median(containerd), 2),
      formatNumber(percentile(containerd, 90), 2),
      `${formatNumber(ratio(rpc), 2)}×`,
      ratio(rpc) <= TARGET_RATIO ? 'met' : 'not met',
    ];
  });
  const MiB = 1024;
  const memory = (name: RuntimeName): DaemonMemory => daemons.find((daemon) => daemon.name === name)!;
  for (const daemon of daemons) {
    rows.push([
      `daemon memory, ${daemon.label}`,
      `idle RSS ${formatNumber(daemon.idle.rssKiB / MiB)} MiB`,
      `RSS ${formatNumber(daemon.withPods.rssKiB / MiB)} MiB`,
      `Pss ${formatNumber(daemon.withPods.pssKiB / MiB)} MiB`,
      `after the calls: RSS ${formatNumber(daemon.afterCalls.rssKiB / MiB)}, Pss ${formatNumber(daemon.afterCalls.pssKiB / MiB)} MiB`,
      '',
      '',
    ]);
  }
  const goals = [
    ...RPCS.map((rpc) => ratioGoal(`${rpc} median, ${PODS} pods`, 'ms', median(of('crion', rpc)), median(of('containerd', rpc)), TARGET_RATIO)),
    ratioGoal(`daemon RSS with ${PODS} pods`, 'MiB', memory('crion').withPods.rssKiB / MiB, memory('containerd').withPods.rssKiB / MiB, TARGET_RATIO),
  ];
  return {
    ...goalsOutcome(goals),
    table: {
      columns: ['Call', 'crion median ms', 'crion p90', 'containerd median ms', 'containerd p90', 'ratio', `≤ ${TARGET_RATIO.toFixed(1)}×`],
      rows,
    },
    notes: [
      `${PODS} host-network pods per runtime (CRION_BENCH_UNARY_PODS), each with critest's busybox sleeping in a shell and a PID namespace per ` +
        `container (the kubelet default), started ${START_CONCURRENCY} at a time over the same gRPC channel, with the configs the kubelet sends (a cgroup_parent below one directory of the run's: containerd 1.6 answers ListPodSandboxStats only for pods with one); both daemons run side by side, crion at log level info.`,
      `Each RPC ${samples.length / RPCS.length / daemons.length} times per runtime after ${WARMUP} untimed calls, on one @grpc/grpc-js channel per ` +
        "runtime in the benchmark's process (RuntimeService and ImageService share it, as the kubelet's clients share its connection), " +
        'alternating runtimes call by call; timed from call to response, so gRPC both ways and the client are in both figures. ' +
        'PodSandboxStatus and ContainerStatus ask about one pod and its container from the middle of the start order; ImageStatus about the busybox image.',
      'p90 is the nearest-rank 90th percentile.',
      "Daemon memory from /proc: VmRSS (status) and Pss (smaps_rollup) of crion's Node process and of containerd (its CRI plugin included), " +
        `idle once the images are pulled, ${SETTLE_MS / 1000} s after the last pod start, and once the timed calls are done. ` +
        "containerd's per-pod shims are not in its figure, nor crion's monitors: pod-memory's benchmarks count those.",
    ],
    data: { pods: PODS, startConcurrency: START_CONCURRENCY, daemons, samples },
  };
}
