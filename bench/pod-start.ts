import { PodRig, STOP_GRACE_SECONDS, type PidNamespaceMode, type PodRpc, type PodRuntime, type RuntimeName } from './pods.js';
import { formatNumber, goalsOutcome, median, ratioGoal, type Benchmark, type Outcome } from './report.js';

/**
 * Starting a pod with one container, the kubelet's path to a running
 * container: RunPodSandbox, CreateContainer, StartContainer; then taking it
 * down: StopContainer and RemoveContainer, StopPodSandbox and
 * RemovePodSandbox. Both daemons run side by side for
 * the whole benchmark, images already pulled, and cycles alternate between
 * them so that drift in the machine lands on both.
 */

/** Issue 15's goal for each pair of calls, both pod kinds. */
const TARGET_RATIO = 0.5;
/** Cycles per runtime, at least: medians of fewer move with every hiccup of a 2-core machine. */
const MIN_CYCLES = 10;
const POD_RPCS: readonly PodRpc[] = ['RunPodSandbox', 'CreateContainer', 'StartContainer'];
/**
 * The kubelet's pod: it sends pid CONTAINER unless the pod sets
 * shareProcessNamespace. A pod sharing its PID namespace, as critest's and
 * crictl's configs do by leaving the mode at 0: crion then starts its pod
 * init to hold it, where containerd starts its pause container for every pod.
 */
const VARIANTS: readonly { readonly pid: PidNamespaceMode; readonly label: string }[] = [
  { pid: 'CONTAINER', label: 'PID namespace per container (kubelet default)' },
  { pid: 'POD', label: 'shared PID namespace (critest, crictl default)' },
];

interface Sample {
  readonly cycle: number;
  readonly runtime: RuntimeName;
  readonly pid: PidNamespaceMode;
  readonly runpMs: number;
  readonly createMs: number;
  readonly startMs: number;
  /** runp + create + start. */
  readonly totalMs: number;
  /** `stop` + `rm` of the container, then `stopp` + `rmp` of its pod. */
  readonly stopRemoveContainerMs: number;
  readonly stopRemovePodMs: number;
  /** `crictl version`: one trivial RPC, the client's own share of each call. */
  readonly versionMs: number;
  /** The same three calls as the daemon's log times them, without client, connection and gRPC; null if its log does not say. */
  readonly serverMs: Readonly<Record<PodRpc, number>> | null;
  readonly serverTotalMs: number | null;
}

export const podStart: Benchmark = {
  id: 'pod-start-vs-containerd',
  title: 'Pod and container start: crion vs containerd',
  target:
    `crion's median RunPodSandbox + CreateContainer + StartContainer, StopContainer + RemoveContainer and StopPodSandbox + ` +
    `RemovePodSandbox (crictl) each at most ${TARGET_RATIO}× containerd's, for the kubelet's default pod and a shared-PID pod, images present`,
  async run(context) {
    const rig = await PodRig.start(context);
    const runtimes: PodRuntime[] = [];
    try {
      for (const name of ['crion', 'containerd'] as const) {
        context.progress(`pod start: starting ${name}`);
        runtimes.push(await rig.start(name));
      }
      // One untimed cycle each: the first pod pays for lazily opened stores and the page cache.
      for (const { pid } of VARIANTS) for (const runtime of runtimes) await cycle(rig, runtime, pid, `warmup-${pid}`);
      const cycles = Math.max(MIN_CYCLES, context.runs);
      const samples: Sample[] = [];
      for (let n = 1; n <= cycles; n++) {
        context.progress(`pod start: cycle ${n}/${cycles}`);
        for (const { pid } of VARIANTS) {
          for (const runtime of runtimes) {
            samples.push({ cycle: n, runtime: runtime.name, pid, ...(await cycle(rig, runtime, pid, `start-${pid}-${n}`)) });
          }
        }
      }
      return outcome(samples, runtimes);
    } finally {
      for (const runtime of runtimes) await runtime.dispose();
      await rig.dispose();
    }
  },
};

async function cycle(rig: PodRig, runtime: PodRuntime, pid: PidNamespaceMode, name: string): Promise<Omit<Sample, 'cycle' | 'runtime' | 'pid'>> {
  const pod = await rig.runPod(runtime, `${runtime.name}-${name}`.toLowerCase(), pid);
  const stopRemoveContainerMs = await rig.removeContainer(runtime, pod.containerId);
  const stopRemovePodMs = await rig.removePod(runtime, pod.podId);
  const versionMs = (await rig.timedCrictl(runtime, ['version'])).ms;
  const server = POD_RPCS.map((rpc) => [rpc, runtime.serverMs(rpc, pod)] as const);
  const serverMs = server.every(([, ms]) => ms !== null) ? (Object.fromEntries(server) as Record<PodRpc, number>) : null;
  const serverTotalMs = serverMs === null ? null : POD_RPCS.reduce((sum, rpc) => sum + serverMs[rpc], 0);
  const { runpMs, createMs, startMs } = pod;
  const totalMs = runpMs + createMs + startMs;
  return { runpMs, createMs, startMs, totalMs, stopRemoveContainerMs, stopRemovePodMs, versionMs, serverMs, serverTotalMs };
}

function outcome(samples: readonly Sample[], runtimes: readonly PodRuntime[]): Outcome {
  type Column = Exclude<keyof Sample, 'cycle' | 'runtime' | 'pid' | 'serverMs' | 'serverTotalMs'>;
  const of = (name: RuntimeName, pid: PidNamespaceMode): Sample[] => samples.filter((s) => s.runtime === name && s.pid === pid);
  const medianOf = (name: RuntimeName, pid: PidNamespaceMode, key: Column): number => median(of(name, pid).map((s) => s[key]));
  const serverMedian = (name: RuntimeName, pid: PidNamespaceMode, rpc: PodRpc | 'total'): string => {
    const values = of(name, pid).flatMap((s) => {
      const value = rpc === 'total' ? s.serverTotalMs : (s.serverMs?.[rpc] ?? null);
      return value === null ? [] : [value];
    });
    return values.length === 0 ? 'n/a' : formatNumber(median(values));
  };
  const goals = VARIANTS.flatMap(({ pid }) => {
    const kind = pid === 'CONTAINER' ? "kubelet's default pod" : 'shared-PID pod';
    const goal = (calls: string, key: Column) =>
      ratioGoal(`${calls}, ${kind} (crictl)`, 'ms', medianOf('crion', pid, key), medianOf('containerd', pid, key), TARGET_RATIO);
    return [goal('runp + create + start', 'totalMs'), goal('stop + rm (container)', 'stopRemoveContainerMs'), goal('stopp + rmp', 'stopRemovePodMs')];
  });
  const rows = VARIANTS.flatMap(({ pid, label: variant }) =>
    runtimes.map(({ name, label }) => {
      const totals = of(name, pid).map((s) => s.totalMs);
      return [
        variant,
        label,
        formatNumber(medianOf(name, pid, 'runpMs')),
        formatNumber(medianOf(name, pid, 'createMs')),
        formatNumber(medianOf(name, pid, 'startMs')),
        formatNumber(medianOf(name, pid, 'totalMs')),
        formatNumber(Math.min(...totals)),
        formatNumber(Math.max(...totals)),
        formatNumber(medianOf(name, pid, 'stopRemoveContainerMs')),
        formatNumber(medianOf(name, pid, 'stopRemovePodMs')),
        formatNumber(medianOf(name, pid, 'versionMs')),
        POD_RPCS.map((rpc) => serverMedian(name, pid, rpc)).join(' / '),
        serverMedian(name, pid, 'total'),
        `${formatNumber(medianOf(name, pid, 'totalMs') / medianOf('containerd', pid, 'totalMs'), 2)}×`,
      ];
    }),
  );
  return {
    ...goalsOutcome(goals),
    table: {
      columns: [
        'Pod',
        'Runtime',
        'runp ms',
        'create ms',
        'start ms',
        'Median start ms',
        'Min',
        'Max',
        'stop + rm ms',
        'stopp + rmp ms',
        'crictl version ms',
        'Daemon-side runp / create / start ms',
        'Daemon-side start ms',
        'vs containerd',
      ],
      rows,
    },
    notes: [
      `${of('crion', 'CONTAINER').length} cycles per runtime and pod kind after one untimed warm-up each, alternating crion and containerd; ` +
        'medians per column (so the three call columns need not add up to the total).',
      'Pod kinds, each with its own goals: the pod the kubelet sends by default, PID namespace per container (namespace_options.pid = ' +
        'CONTAINER): crion pins its IPC namespace without any process, containerd starts its pause container as for every pod. ' +
        'The shared PID namespace pod (pid = POD, what critest and crictl send when the config leaves the mode at 0) makes crion start ' +
        'its pod init (runtime.infra_container = "pod-init", the default) to hold that namespace.',
      `Taking down: \`stop --timeout ${STOP_GRACE_SECONDS}\` + \`rm\` of the container (SIGTERM, which the shell leaves at), then \`stopp\` + \`rmp\` ` +
        'of its pod, which then has no container left to stop.',
      'Each call is one `crictl` process (the same binary for both: `runp`, `create --no-pull`, `start`, …), timed from spawn to exit: ' +
        'about the same process start-up cost on both sides is included in every figure, which pulls the ratio towards 1. ' +
        '`crictl version` (one trivial RPC, timed the same way) shows that client-side floor per call, paid twice or three times in each goal.',
      'Daemon-side: the three calls as each daemon times them, without client, connection and gRPC: crion from the ' +
        '`latencyMs` of its "rpc finished" lines, containerd from the timestamps of its CRI plugin\'s start and "returns" lines. Outside the target.',
      'Pods use the host network (namespace_options.network = NODE) on both runtimes, so neither sets up a network: no CNI for containerd, ' +
        "no network namespace or CNI for crion. The container is critest's busybox (`registry.k8s.io/e2e-test-images/busybox:1.29-2`, a local " +
        'stand-in) running a shell that sleeps; the pod sandbox image is `registry.k8s.io/pause:3.10` for both, through a loopback mirror.',
      'containerd: CRI plugin defaults, runc v2 shim (one per pod), overlayfs snapshotter. crion: defaults, at log level info.',
    ],
    data: { cycles: of('crion', 'CONTAINER').length, runtimes: runtimes.map(({ name, label }) => ({ name, label })), variants: VARIANTS, samples },
  };
}
