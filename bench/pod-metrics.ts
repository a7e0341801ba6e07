import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCriPackage } from '../src/cri/proto.js';
import { PodRig, type PodRuntime, type RuntimeName } from './pods.js';
import { formatNumber, median, percentile, type Benchmark, type BenchContext } from './report.js';

/**
 * What the kubelet's stats scrape costs with a full node: 110 pods (the
 * kubelet's default maxPods), one running container each, and the calls
 * the kubelet makes every 10 s: ListPodSandboxMetrics (/metrics/cadvisor
 * under PodAndContainerStatsFromCRI) and ListContainerStats, on crion;
 * ListContainerStats on containerd beside it (its 1.6 has no metrics RPCs:
 * the refusal is recorded). Each runtime runs alone on a fresh root.
 */

const PODS = 110;
/** The kubelet's housekeeping and Prometheus' usual interval. */
const CADENCE_MS = 10_000;
const TARGET_MS = 500;
/** Calls timed per RPC after the first (cold) one; closer than the kubelet's cadence, so the median is not a cache hit only. */
const SAMPLES = 10;
const GAP_MS = 1_000;

type Rpc = 'ListPodSandboxMetrics' | 'ListContainerStats';

interface RpcTiming {
  readonly runtime: RuntimeName;
  readonly label: string;
  readonly rpc: Rpc;
  /** null with `refused` set when the runtime answered with an error. */
  readonly coldMs: number | null;
  readonly samplesMs: readonly number[];
  readonly items: number;
  readonly responseBytes: number;
  readonly refused: string | null;
}

type UnaryCall = (request: object, callback: (error: grpc.ServiceError | null, response?: unknown) => void) => void;

function call(client: grpc.Client, rpc: Rpc, request: object): Promise<{ ms: number; response: Record<string, unknown[]> }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    (client as unknown as Record<Rpc, UnaryCall>)[rpc].call(client, request, (error, response) => {
      const ms = performance.now() - started;
      if (error) reject(error);
      else resolve({ ms, response: response as Record<string, unknown[]> });
    });
  });
}

async function time(runtime: PodRuntime, rpc: Rpc, request: object, field: string): Promise<RpcTiming> {
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(runtime.endpoint, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  try {
    let cold: { ms: number; response: Record<string, unknown[]> };
    try {
      cold = await call(client, rpc, request);
    } catch (error) {
      const status = error as grpc.ServiceError;
      return {
        runtime: runtime.name,
        label: runtime.label,
        rpc,
        coldMs: null,
        samplesMs: [],
        items: 0,
        responseBytes: 0,
        refused: `${grpc.status[status.code]}: ${status.details}`,
      };
    }
    const samples: number[] = [];
    let last = cold;
    for (let n = 0; n < SAMPLES; n++) {
      await sleep(GAP_MS);
      last = await call(client, rpc, request);
      samples.push(last.ms);
    }
    const items = last.response[field] ?? [];
    return {
      runtime: runtime.name,
      label: runtime.label,
      rpc,
      coldMs: cold.ms,
      samplesMs: samples,
      items: items.length,
      responseBytes: JSON.stringify(items).length,
      refused: null,
    };
  } finally {
    client.close();
  }
}

async function measure(context: BenchContext, rig: PodRig, name: RuntimeName): Promise<RpcTiming[]> {
  const runtime = await rig.start(name);
  try {
    for (let n = 1; n <= PODS; n++) {
      // What the kubelet sends unless a pod shares its PID namespace: no infra container on crion.
      await rig.runPod(runtime, `${name}-metrics-${n}`, 'CONTAINER');
      if (n % 10 === 0) context.progress(`pod metrics: ${name}: ${n}/${PODS} pods running`);
    }
    const timings = [await time(runtime, 'ListContainerStats', { filter: null }, 'stats')];
    timings.push(await time(runtime, 'ListPodSandboxMetrics', {}, 'podMetrics'));
    return timings;
  } finally {
    await runtime.dispose();
  }
}

export const podMetrics: Benchmark = {
  id: 'pod-metrics',
  title: `Stats scrape with ${PODS} pods: ListPodSandboxMetrics and ListContainerStats, crion vs containerd`,
  target: `crion's ListPodSandboxMetrics and ListContainerStats each below ${TARGET_MS} ms (median) with ${PODS} pods, a twentieth of the kubelet's ${CADENCE_MS / 1000} s cadence`,
  async run(context) {
    const rig = await PodRig.start(context);
    const timings: RpcTiming[] = [];
    try {
      for (const name of ['crion', 'containerd'] as const) timings.push(...(await measure(context, rig, name)));
    } finally {
      await rig.dispose();
    }
    const crion = timings.filter((timing) => timing.runtime === 'crion');
    const medians = crion.map((timing) => (timing.samplesMs.length === 0 ? Number.POSITIVE_INFINITY : median(timing.samplesMs)));
    const metrics = crion.find((timing) => timing.rpc === 'ListPodSandboxMetrics');
    const stats = crion.find((timing) => timing.rpc === 'ListContainerStats');
    const containerd = timings.find((timing) => timing.runtime === 'containerd' && timing.rpc === 'ListContainerStats');
    const rows = timings.map((timing) => [
      timing.label,
      timing.rpc,
      timing.refused ?? String(timing.items),
      timing.coldMs === null ? '—' : formatNumber(timing.coldMs),
      timing.samplesMs.length === 0 ? '—' : formatNumber(median(timing.samplesMs)),
      timing.samplesMs.length === 0 ? '—' : formatNumber(percentile(timing.samplesMs, 90)),
      timing.samplesMs.length === 0 ? '—' : formatNumber(timing.responseBytes / 1024, 0),
    ]);
    const fmt = (timing: RpcTiming | undefined) =>
      timing === undefined || timing.samplesMs.length === 0 ? 'n/a' : `${formatNumber(median(timing.samplesMs))} ms`;
    return {
      verdict: medians.every((value) => value < TARGET_MS) ? 'met' : 'not met',
      summary:
        `with ${PODS} pods crion answers ListPodSandboxMetrics in ${fmt(metrics)} and ListContainerStats in ${fmt(stats)} (median); ` +
        `containerd's ListContainerStats ${fmt(containerd)}`,
      table: { columns: ['Runtime', 'RPC', 'Items (or refusal)', 'Cold ms', 'Median ms', 'p90 ms', 'Response KiB (JSON)'], rows },
      notes: [
        `${PODS} host-network pods started with crictl, one busybox container each sleeping in a shell, PID namespace per container (as the kubelet asks); ` +
          'host-network pods have no pod network counters, so ListPodSandboxMetrics reads cgroups, /proc and the layers only.',
        `Each RPC timed by a grpc-js client on the runtime's socket: the first call (cold: crion measures every writable layer then) and ${SAMPLES} more ${GAP_MS / 1000} s apart.`,
        'Response size: the JSON of the listed items, an upper bound of the protobuf size.',
      ],
      data: { pods: PODS, samples: SAMPLES, gapMs: GAP_MS, timings },
    };
  },
};
