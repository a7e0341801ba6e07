import { PodRig, type PodRpc, type PodRuntime, type RuntimeName } from './pods.js';
import { formatNumber, median, type Benchmark, type Outcome } from './report.js';

/**
 * Starting a pod with one container, the kubelet's path to a running
 * container: RunPodSandbox, CreateContainer, StartContainer, then
 * StopPodSandbox and RemovePodSandbox. Both daemons run side by side for
 * the whole benchmark, images already pulled, and cycles alternate between
 * them so that drift in the machine lands on both.
 */

const TARGET_RATIO = 0.7;
/** Cycles per runtime, at least: medians of fewer move with every hiccup of a 2-core machine. */
const MIN_CYCLES = 10;
const POD_RPCS: readonly PodRpc[] = ['RunPodSandbox', 'CreateContainer', 'StartContainer'];

interface Sample {
  readonly cycle: number;
  readonly runtime: RuntimeName;
  readonly runpMs: number;
  readonly createMs: number;
  readonly startMs: number;
  /** runp + create + start. */
  readonly totalMs: number;
  readonly stopRemoveMs: number;
  /** `crictl version`: one trivial RPC, the client's own share of each call. */
  readonly versionMs: number;
  /** The same three calls as the daemon's log times them, without client, connection and gRPC; null if its log does not say. */
  readonly serverMs: Readonly<Record<PodRpc, number>> | null;
  readonly serverTotalMs: number | null;
}

export const podStart: Benchmark = {
  id: 'pod-start-vs-containerd',
  title: 'Pod and container start: crion vs containerd',
  target: `crion's median RunPodSandbox + CreateContainer + StartContainer at most ${TARGET_RATIO}× containerd's, host-network pod, images present`,
  async run(context) {
    const rig = await PodRig.start(context);
    const runtimes: PodRuntime[] = [];
    try {
      for (const name of ['crion', 'containerd'] as const) {
        context.progress(`pod start: starting ${name}`);
        runtimes.push(await rig.start(name));
      }
      // One untimed cycle each: the first pod pays for lazily opened stores and the page cache.
      for (const runtime of runtimes) await cycle(rig, runtime, 'warmup');
      const cycles = Math.max(MIN_CYCLES, context.runs);
      const samples: Sample[] = [];
      for (let n = 1; n <= cycles; n++) {
        context.progress(`pod start: cycle ${n}/${cycles}`);
        for (const runtime of runtimes) samples.push({ cycle: n, runtime: runtime.name, ...(await cycle(rig, runtime, `start-${n}`)) });
      }
      return outcome(samples, runtimes);
    } finally {
      for (const runtime of runtimes) await runtime.dispose();
      await rig.dispose();
    }
  },
};

async function cycle(rig: PodRig, runtime: PodRuntime, name: string): Promise<Omit<Sample, 'cycle' | 'runtime'>> {
  const pod = await rig.runPod(runtime, `${runtime.name}-${name}`);
  const stopRemoveMs = await rig.removePod(runtime, pod.podId);
  const versionMs = (await rig.timedCrictl(runtime, ['version'])).ms;
  const server = POD_RPCS.map((rpc) => [rpc, runtime.serverMs(rpc, pod)] as const);
  const serverMs = server.every(([, ms]) => ms !== null) ? (Object.fromEntries(server) as Record<PodRpc, number>) : null;
  const serverTotalMs = serverMs === null ? null : POD_RPCS.reduce((sum, rpc) => sum + serverMs[rpc], 0);
  const { runpMs, createMs, startMs } = pod;
  return { runpMs, createMs, startMs, totalMs: runpMs + createMs + startMs, stopRemoveMs, versionMs, serverMs, serverTotalMs };
}

function outcome(samples: readonly Sample[], runtimes: readonly PodRuntime[]): Outcome {
  const of = (name: RuntimeName): Sample[] => samples.filter((sample) => sample.runtime === name);
  const medianOf = (name: RuntimeName, key: Exclude<keyof Sample, 'cycle' | 'runtime' | 'serverMs' | 'serverTotalMs'>): number =>
    median(of(name).map((s) => s[key]));
  const serverMedian = (name: RuntimeName): string => {
    const totals = of(name).flatMap((s) => (s.serverTotalMs === null ? [] : [s.serverTotalMs]));
    return totals.length === 0 ? 'n/a' : formatNumber(median(totals));
  };
  const containerdTotal = medianOf('containerd', 'totalMs');
  const rows = runtimes.map(({ name, label }) => {
    const totals = of(name).map((s) => s.totalMs);
    return [
      label,
      formatNumber(medianOf(name, 'runpMs')),
      formatNumber(medianOf(name, 'createMs')),
      formatNumber(medianOf(name, 'startMs')),
      formatNumber(medianOf(name, 'totalMs')),
      formatNumber(Math.min(...totals)),
      formatNumber(Math.max(...totals)),
      formatNumber(medianOf(name, 'stopRemoveMs')),
      formatNumber(medianOf(name, 'versionMs')),
      serverMedian(name),
      `${formatNumber(medianOf(name, 'totalMs') / containerdTotal, 2)}×`,
    ];
  });
  const ratio = medianOf('crion', 'totalMs') / containerdTotal;
  return {
    verdict: ratio <= TARGET_RATIO ? 'met' : 'not met',
    summary: `crion's pod + container start takes ${formatNumber(ratio, 2)}× containerd's (target ≤ ${TARGET_RATIO}×)`,
    table: {
      columns: ['Runtime', 'runp ms', 'create ms', 'start ms', 'Median start ms', 'Min', 'Max', 'stopp + rmp ms', 'crictl version ms', 'Daemon-side start ms', 'vs containerd'],
      rows,
    },
    notes: [
      `${of('crion').length} cycles per runtime after one untimed warm-up, alternating crion and containerd; medians per column ` +
        '(so the three call columns need not add up to the total).',
      'Each call is one `crictl` process (the same binary for both, `runp`, `create --no-pull`, `start`), timed from spawn to exit: ' +
        'about the same process start-up cost on both sides is included in every figure, which pulls the ratio towards 1. ' +
        '`crictl version` (one trivial RPC, timed the same way) shows that client-side floor per call.',
      'Daemon-side start: the three calls as each daemon times them, without client, connection and gRPC: crion from the ' +
        '`latencyMs` of its "rpc finished" lines, containerd from the timestamps of its CRI plugin\'s start and "returns" lines. Outside the target.',
      'Measured with crictl rather than `critest --benchmark`: critest v1.37.0\'s pod + container benchmark measures a single ' +
        'iteration with a pod on its own network namespace, which containerd cannot run without a CNI plugin.',
      'Pods use the host network (namespace_options.network = NODE), so neither runtime sets up a network: no CNI for containerd, ' +
        'no network namespace for crion. The container is critest\'s busybox (`registry.k8s.io/e2e-test-images/busybox:1.29-2`, a local ' +
        'stand-in) running a shell that sleeps; the pod sandbox image is `registry.k8s.io/pause:3.10` for both, through a loopback mirror.',
      'containerd: CRI plugin defaults, runc v2 shim (one per pod), overlayfs snapshotter. crion: defaults, at log level info.',
    ],
    data: { cycles: of('crion').length, runtimes: runtimes.map(({ name, label }) => ({ name, label })), samples },
  };
}
