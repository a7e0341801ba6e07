import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { loadCriPackage } from '../src/cri/proto.js';
import { PodRig, type PodRuntime, type RuntimeName } from './pods.js';
import { formatNumber, median, percentile, type Benchmark, type Outcome } from './report.js';

/**
 * How long running `true` in a running container takes, the kubelet's exec
 * probe and `kubectl exec`'s case: ExecSync on one long-lived gRPC
 * connection, which has the runtime's own path and `runc exec` in it, and
 * `crictl exec` end to end, a new process that asks for Exec, then opens
 * the streaming URL over SPDY and waits for the exit status.
 */

/** ExecSync calls per runtime, at least: a p90 needs a tail to stand on. */
const MIN_EXEC_SYNC = 50;
/** `crictl exec` processes per runtime, at least. */
const MIN_CRICTL_EXEC = 20;
const WARMUP = 3;
const EXEC_SYNC_TIMEOUT_S = 10;

type Method = 'ExecSync' | 'crictl exec' | 'crictl version';

interface Sample {
  readonly runtime: RuntimeName;
  readonly method: Method;
  readonly ms: number;
}

type ExecSync = () => Promise<void>;

export const execLatency: Benchmark = {
  id: 'exec-latency',
  title: 'Exec round trip (`true` in a running container): crion vs containerd',
  target: 'none yet: ExecSync over gRPC and `crictl exec` (SPDY) medians and p90 are recorded so runs can be compared',
  async run(context) {
    const rig = await PodRig.start(context);
    const runtimes: PodRuntime[] = [];
    const clients: grpc.Client[] = [];
    try {
      const targets: { runtime: PodRuntime; containerId: string; execSync: ExecSync }[] = [];
      for (const name of ['crion', 'containerd'] as const) {
        context.progress(`exec latency: starting ${name}`);
        const runtime = await rig.start(name);
        runtimes.push(runtime);
        const { containerId } = await rig.runPod(runtime, `${name}-exec`, 'CONTAINER');
        const { client, execSync } = execSyncClient(runtime, containerId);
        clients.push(client);
        targets.push({ runtime, containerId, execSync });
      }
      // Untimed: the first exec pays for a cold runc binary, the first stream for the streaming server's listener.
      for (const { runtime, containerId, execSync } of targets) {
        for (let n = 0; n < WARMUP; n++) {
          await execSync();
          await rig.timedCrictl(runtime, ['exec', containerId, 'true']);
        }
      }
      const samples: Sample[] = [];
      const execSyncs = Math.max(MIN_EXEC_SYNC, context.runs);
      context.progress(`exec latency: ${execSyncs} ExecSync calls per runtime`);
      // Alternating call by call, so drift in the machine's load lands on both.
      for (let n = 0; n < execSyncs; n++) {
        for (const { runtime, execSync } of targets) {
          const started = performance.now();
          await execSync();
          samples.push({ runtime: runtime.name, method: 'ExecSync', ms: performance.now() - started });
        }
      }
      // crion's own time for the timed calls (the last ones it logged), to tell its handler from gRPC and the client.
      const daemonSide =
        runtimes
          .find((runtime) => runtime.name === 'crion')
          ?.rpcLatenciesMs('ExecSync')
          .slice(-execSyncs) ?? [];
      const crictlExecs = Math.max(MIN_CRICTL_EXEC, context.runs);
      context.progress(`exec latency: ${crictlExecs} crictl exec and crictl version per runtime`);
      for (let n = 0; n < crictlExecs; n++) {
        for (const { runtime, containerId } of targets) {
          const exec = await rig.timedCrictl(runtime, ['exec', containerId, 'true']);
          samples.push({ runtime: runtime.name, method: 'crictl exec', ms: exec.ms });
          const version = await rig.timedCrictl(runtime, ['version']);
          samples.push({ runtime: runtime.name, method: 'crictl version', ms: version.ms });
        }
      }
      return outcome(samples, runtimes, daemonSide);
    } finally {
      for (const client of clients) client.close();
      for (const runtime of runtimes) await runtime.dispose();
      await rig.dispose();
    }
  },
};

/** ExecSync of `true` in `containerId`, failing unless it exits 0. */
function execSyncClient(runtime: PodRuntime, containerId: string): { client: grpc.Client; execSync: ExecSync } {
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(runtime.endpoint, grpc.credentials.createInsecure());
  const execSync = () =>
    new Promise<void>((resolve, reject) =>
      client.ExecSync({ containerId, cmd: ['true'], timeout: EXEC_SYNC_TIMEOUT_S }, (error, response) => {
        if (error) reject(runtime.failure(`ExecSync against ${runtime.label}: ${error.message}`));
        else if (response?.exitCode !== 0) reject(runtime.failure(`ExecSync of true against ${runtime.label} exited ${response?.exitCode}`));
        else resolve();
      }),
    );
  return { client, execSync };
}

function outcome(samples: readonly Sample[], runtimes: readonly PodRuntime[], crionDaemonSideMs: readonly number[]): Outcome {
  const of = (name: RuntimeName, method: Method): number[] => samples.filter((s) => s.runtime === name && s.method === method).map((s) => s.ms);
  const methods: readonly Method[] = ['ExecSync', 'crictl exec', 'crictl version'];
  const rows = methods.flatMap((method) =>
    runtimes.map(({ name, label }) => {
      const ms = of(name, method);
      return [
        method,
        label,
        String(ms.length),
        formatNumber(median(ms)),
        formatNumber(percentile(ms, 90)),
        formatNumber(Math.min(...ms)),
        formatNumber(Math.max(...ms)),
        `${formatNumber(median(ms) / median(of('containerd', method)), 2)}×`,
      ];
    }),
  );
  const ratio = (method: Method): string => formatNumber(median(of('crion', method)) / median(of('containerd', method)), 2);
  return {
    verdict: 'reported',
    summary:
      `ExecSync median ${formatNumber(median(of('crion', 'ExecSync')))} ms on crion, ${formatNumber(median(of('containerd', 'ExecSync')))} ms on containerd (${ratio('ExecSync')}×); ` +
      `crictl exec ${formatNumber(median(of('crion', 'crictl exec')))} against ${formatNumber(median(of('containerd', 'crictl exec')))} ms (${ratio('crictl exec')}×)`,
    table: { columns: ['Call', 'Runtime', 'Samples', 'Median ms', 'p90 ms', 'Min', 'Max', 'vs containerd'], rows },
    notes: [
      "One running container per runtime, both daemons side by side: critest's busybox sleeping in a host-network pod with a PID namespace " +
        'per container (the kubelet default), images present. Each call runs `true` in it.',
      `ExecSync: ${of('crion', 'ExecSync').length} calls per runtime on one gRPC connection each (@grpc/grpc-js in the benchmark's process), ` +
        'alternating runtimes call by call after an untimed warm-up, timed from call to response; the exit code is checked. ' +
        'No process start-up is in these figures: they are the runtime (request handling, `runc exec`, collecting the output and exit code).',
      '`crictl exec <id> true`: one crictl process per call (the same binary for both), timed from spawn to exit: ' +
        "its start-up and connection, the Exec RPC, the upgrade of the streaming URL to SPDY/3.1 (crictl's default transport), " +
        'the process in the container and the status frame. `crictl version` (one trivial RPC, timed the same way, in the same loop) ' +
        'is the client-side floor under it.',
      'p90 is the nearest-rank 90th percentile of the samples.',
      crionDaemonSideMs.length === 0
        ? 'crion logged no ExecSync latency.'
        : `crion's own time for the timed ExecSync calls, from the latencyMs of its "rpc finished" lines: median ` +
          `${formatNumber(median(crionDaemonSideMs))} ms, p90 ${formatNumber(percentile(crionDaemonSideMs, 90))} ms; the rest of its figure is gRPC ` +
          'both ways and the client. containerd logs no latency for ExecSync (its CRI plugin logs the call only at debug level).',
    ],
    data: { crionDaemonSideMs, runtimes: runtimes.map(({ name, label }) => ({ name, label })), samples },
  };
}
