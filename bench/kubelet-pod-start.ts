import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startImageSource, type ImageSource } from '../__test__/helpers/image-source.js';
import { allReady } from '../__test__/helpers/kubelet.js';
import { KubeletNode, type RuntimeName } from '../__test__/helpers/kubelet-node.js';
import { formatNumber, median, type Benchmark, type Outcome } from './report.js';

/**
 * A pod start as the kubelet sees it: from the moment a static pod manifest
 * is written to the moment the kubelet's `/pods` reports every container
 * ready. This is the whole path a user waits for (the kubelet's file source,
 * its pod worker, RunPodSandbox with CNI, two creates and starts, and its
 * status sync), on crion and on containerd with the same kubelet build.
 */

const PODS = 10;
/** How often `/pods` is asked; a start is known to within this much. */
const POLL_MS = 50;
const START_TIMEOUT_MS = 60_000;

interface Sample {
  readonly runtime: RuntimeName;
  readonly pod: number;
  readonly ms: number;
}

export const kubeletPodStart: Benchmark = {
  id: 'kubelet-pod-start',
  title: 'Pod start through a real kubelet: crion vs containerd',
  target: `median time from a static pod manifest written to all of its containers ready, over ${PODS} pods; reported, no target yet`,
  async run(context) {
    const source = await startImageSource({ critestImages: true });
    const samples: Sample[] = [];
    try {
      // One kubelet at a time: two on a host share its device manager's socket.
      for (const runtime of ['crion', 'containerd'] as const) {
        context.progress(`kubelet pod start: ${runtime}`);
        samples.push(...(await measure(runtime, source, Math.max(PODS, context.runs))));
      }
    } finally {
      await source.dispose();
    }
    return outcome(samples);
  },
};

async function measure(runtime: RuntimeName, source: ImageSource, pods: number): Promise<Sample[]> {
  // A container's control socket, `<state>/c/<64-hex id>/ctl`, must fit the 107 bytes of a unix socket
  // address, which a daemon dir below the run's directory overruns: the node's dirs go straight below /tmp,
  // and its dispose removes them.
  const runTmp = process.env.TMPDIR;
  process.env.TMPDIR = '/tmp';
  const node = await KubeletNode.start(runtime, source, { crionLogLevel: 'info' }).finally(() => {
    process.env.TMPDIR = runTmp;
  });
  try {
    await node.pullImages(source);
    // One untimed pod first: the first pays for lazily opened stores and the page cache.
    await startPod(node, source, 'warmup');
    const samples: Sample[] = [];
    for (let pod = 1; pod <= pods; pod++) samples.push({ runtime, pod, ms: await startPod(node, source, `start-${pod}`) });
    return samples;
  } finally {
    await node.dispose();
  }
}

async function startPod(node: KubeletNode, source: ImageSource, name: string): Promise<number> {
  const container = (containerName: string) => ({
    name: containerName,
    image: source.images.busybox.reference,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', 'exec sleep 3600'],
    resources: { limits: { cpu: '100m', memory: '32Mi' } },
  });
  const started = performance.now();
  await node.kubelet.writeManifest(name, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'bench' },
    spec: { dnsPolicy: 'Default', terminationGracePeriodSeconds: 0, containers: [container('app'), container('sidecar')] },
  });
  for (;;) {
    const pod = await node.kubelet.pod(name);
    if (pod !== null && allReady(pod)) break;
    if (performance.now() - started > START_TIMEOUT_MS) throw await node.kubelet.failure(`pod ${name} not ready within ${START_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const ms = performance.now() - started;
  await node.kubelet.removeManifest(name);
  // The next pod starts once this one's containers are stopped, so one pod's teardown is not timed with the next's start.
  while ((await node.containersOf(`${name}-${node.kubelet.options.nodeName}`)).some((c) => c.state === 'CONTAINER_RUNNING')) await sleep(100);
  return ms;
}

function outcome(samples: readonly Sample[]): Outcome {
  const of = (runtime: RuntimeName) => samples.filter((sample) => sample.runtime === runtime).map((sample) => sample.ms);
  const crion = median(of('crion'));
  const containerd = median(of('containerd'));
  const row = (runtime: RuntimeName, value: number) => [
    runtime,
    String(of(runtime).length),
    formatNumber(value),
    formatNumber(Math.min(...of(runtime))),
    formatNumber(Math.max(...of(runtime))),
    `${formatNumber(value / containerd, 2)}×`,
  ];
  return {
    verdict: 'reported',
    summary: `a static pod with two containers is ready ${formatNumber(crion)} ms after its manifest on crion, ${formatNumber(containerd)} ms on containerd (${formatNumber(crion / containerd, 2)}×)`,
    table: {
      columns: ['Runtime', 'Pods', 'Median ms', 'Min', 'Max', 'vs containerd'],
      rows: [row('crion', crion), row('containerd', containerd)],
    },
    notes: [
      `The same kubelet (v1.37.2, standalone, scripts/kubelet.sh) on each runtime in turn, images present; ${PODS} pods each after one untimed warm-up, one at a time.`,
      "A pod is two busybox containers with CPU and memory limits, on the runtime's CNI bridge (crion's default network conflist for both), " +
        'PID namespace per container as the kubelet sends by default, no probes: ready means running.',
      `Timed from writing the manifest (the kubelet watches its static pod dir with inotify) to \`/pods\` reporting every container ready, ` +
        `asked every ${POLL_MS} ms; the kubelet's own status sync is part of the figure on both sides.`,
    ],
    data: { pods: PODS, pollMs: POLL_MS, samples },
  };
}
