import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '../__test__/helpers/repo.js';
import { monitorBinary } from '../src/native/monitor-binary.js';
import { cpuSeconds, PodRig, SLEEPER, type NetworkMode, type PidNamespaceMode, type PodRuntime } from './pods.js';
import { formatNumber, median, percentile, type Benchmark, type BenchContext } from './report.js';

/**
 * Where crion's pod + container start spends its time: crion alone at log
 * level debug, whose step times (src/log/step-times.ts) give each step of
 * RunPodSandbox, the infra container, CreateContainer and StartContainer
 * its milliseconds. Three kinds of pod one after another, then the
 * kubelet's default pod at concurrency, where the 110-pod row loses; and
 * what a bare exec of crion-monitor and of runc costs, the floor inside
 * "monitor + runtime create" and "runtime start".
 */

const MIN_PODS = 20;
const CONCURRENCY = 10;
const EXEC_SAMPLES = 20;
/** What each step-times line is called, in the order a pod start goes through them. */
const PHASES = ['RunPodSandbox steps', 'infra container steps', 'CreateContainer steps', 'StartContainer steps'] as const;
const RPCS = ['RunPodSandbox', 'CreateContainer', 'StartContainer'] as const;

interface Kind {
  readonly label: string;
  readonly pid: PidNamespaceMode;
  readonly network: NetworkMode;
  /** Pods started at once; 1: one after another, each removed before the next. */
  readonly concurrency: number;
}

const KINDS: readonly Kind[] = [
  { label: "kubelet's default pod (host network, PID namespace per container)", pid: 'CONTAINER', network: 'NODE', concurrency: 1 },
  { label: 'shared-PID pod, host network', pid: 'POD', network: 'NODE', concurrency: 1 },
  { label: "critest's pod (own network namespace, CNI, shared PID)", pid: 'POD', network: 'POD', concurrency: 1 },
  { label: `kubelet's default pod, ${CONCURRENCY} at a time`, pid: 'CONTAINER', network: 'NODE', concurrency: CONCURRENCY },
];

interface KindSteps {
  readonly kind: Kind;
  readonly pods: number;
  /** By phase: each line's total and step times. */
  readonly phases: Record<string, { totalMs: number; stepsMs: Record<string, number> }[]>;
  /** The daemon's own latency of each RPC, from its "rpc finished" lines. */
  readonly rpcMs: Record<string, number[]>;
  /** The daemon's CPU time (user + system) and the wall time of starting and removing the pods. */
  readonly daemonCpuSeconds: number;
  readonly wallSeconds: number;
}

async function measureKind(rig: PodRig, runtime: PodRuntime, kind: Kind, pods: number, index: number): Promise<KindSteps> {
  const seen = Object.fromEntries(PHASES.map((phase) => [phase, runtime.logLines(phase).length]));
  const rpcSeen = Object.fromEntries(RPCS.map((rpc) => [rpc, runtime.rpcLatenciesMs(rpc).length]));
  const cpuBefore = cpuSeconds(runtime.daemonPid);
  const started = performance.now();
  if (kind.concurrency === 1) {
    for (let n = 1; n <= pods; n++) {
      const pod = await rig.runPod(runtime, `steps-${index}-${n}`, kind.pid, SLEEPER, kind.network);
      await rig.removePod(runtime, pod.podId);
    }
  } else {
    const { pods: running } = await rig.runPods(runtime, { prefix: `steps-${index}`, count: pods, concurrency: kind.concurrency, pid: kind.pid });
    for (const pod of running) await rig.removePod(runtime, pod.podId);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const daemonCpuSeconds = cpuSeconds(runtime.daemonPid) - cpuBefore;
  const phases = Object.fromEntries(
    PHASES.map((phase) => [
      phase,
      runtime
        .logLines(phase)
        .slice(seen[phase])
        .map((line) => ({ totalMs: line.totalMs as number, stepsMs: line.stepsMs as Record<string, number> })),
    ]),
  );
  const rpcMs = Object.fromEntries(RPCS.map((rpc) => [rpc, runtime.rpcLatenciesMs(rpc).slice(rpcSeen[rpc])]));
  return { kind, pods, phases, rpcMs, daemonCpuSeconds, wallSeconds };
}

/** Spawn to exit of `binary args`, as the daemon's child_process pays it. */
async function execMs(binary: string, args: readonly string[]): Promise<number[]> {
  const samples: number[] = [];
  for (let n = 0; n < EXEC_SAMPLES; n++) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', () => resolve());
    });
    samples.push(performance.now() - started);
  }
  return samples;
}

export const podSteps: Benchmark = {
  id: 'pod-steps',
  title: "Where crion's pod + container start goes: median ms per step",
  target: 'none (reported): a breakdown to choose the next lever by',
  async run(context: BenchContext) {
    const pods = Math.max(MIN_PODS, context.runs);
    const rig = await PodRig.start(context);
    const kinds: KindSteps[] = [];
    let exec: Record<string, number[]>;
    try {
      const runtime = await rig.start('crion', 'debug');
      try {
        for (const [index, kind] of KINDS.entries()) {
          context.progress(`pod steps: ${pods} pods, ${kind.label}`);
          kinds.push(await measureKind(rig, runtime, kind, pods, index));
        }
      } finally {
        await runtime.dispose();
      }
      exec = {
        'crion-monitor --help': await execMs(monitorBinary(repoRoot), ['--help']),
        'runc --version': await execMs('runc', ['--version']),
      };
    } finally {
      await rig.dispose();
    }
    const rows: string[][] = [];
    for (const { kind, pods: count, phases, rpcMs, daemonCpuSeconds, wallSeconds } of kinds) {
      rows.push([
        kind.label,
        'daemon CPU (start and removal)',
        `${formatNumber((daemonCpuSeconds * 1000) / count)} ms per pod, ${formatNumber((daemonCpuSeconds / wallSeconds) * 100, 0)}% of one core`,
        '',
        '',
      ]);
      for (const rpc of RPCS) {
        if (rpcMs[rpc]!.length > 0) rows.push([kind.label, rpc, '(rpc finished: latencyMs)', ...spread(rpcMs[rpc]!)]);
      }
      for (const phase of PHASES) {
        const lines = phases[phase]!;
        if (lines.length === 0) continue;
        rows.push([kind.label, phase, 'whole', ...spread(lines.map((line) => line.totalMs))]);
        const steps = [...new Set(lines.flatMap((line) => Object.keys(line.stepsMs)))];
        for (const step of steps) rows.push([kind.label, phase, step, ...spread(lines.map((line) => line.stepsMs[step] ?? 0))]);
      }
    }
    for (const [command, samples] of Object.entries(exec)) rows.push(['(no pod)', 'exec from Node, spawn to exit', command, ...spread(samples)]);
    return {
      verdict: 'reported',
      summary: summaryOf(kinds),
      table: { columns: ['Pod', 'Call', 'Step', 'Median ms', 'p90 ms'], rows },
      notes: [
        `crion alone at log level debug, ${pods} pods of each kind through crictl (\`runp\`, \`create\`, \`start\`, then \`stopp\`, \`rmp\`); ` +
          'the three kinds one pod at a time, the last started ' +
          `${CONCURRENCY} at a time (then removed). Debug adds a few log lines per call; the "rpc finished" rows show the calls' whole time.`,
        'Steps as the daemon times them (src/log/step-times.ts): each around one await, so overlapping steps (CNI ADD beside the infra ' +
          'container) each count in full; "whole" is the time from the call\'s start to its end, so it also holds what no step covers ' +
          '(validation, the spec, queueing behind other calls).',
        '"monitor + runtime create" is crion-monitor\'s exec, its detached second exec and `runc create`, waited for as one; ' +
          "the exec rows give a bare exec's cost from Node through libuv, spawn to exit, an upper bound of each of the monitor's own hops.",
      ],
      data: { pods, concurrency: CONCURRENCY, kinds, exec },
    };
  },
};

function spread(values: readonly number[]): [string, string] {
  return [formatNumber(median(values)), formatNumber(percentile(values, 90))];
}

/** The largest step of a kubelet's default pod's CreateContainer, the call that costs crion most. */
function summaryOf(kinds: readonly KindSteps[]): string {
  const lines = kinds[0]?.phases['CreateContainer steps'] ?? [];
  if (lines.length === 0) return 'no step times in the log (is the daemon at debug?)';
  const steps = [...new Set(lines.flatMap((line) => Object.keys(line.stepsMs)))].map(
    (step) => [step, median(lines.map((line) => line.stepsMs[step] ?? 0))] as const,
  );
  const [step, ms] = steps.reduce((largest, candidate) => (candidate[1] > largest[1] ? candidate : largest));
  return `CreateContainer of the kubelet's default pod: ${formatNumber(median(lines.map((line) => line.totalMs)))} ms, of which "${step}" ${formatNumber(ms)} ms`;
}
