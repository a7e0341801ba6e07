import { setTimeout as sleep } from 'node:timers/promises';
import { machineCpuSeconds, PodRig, processMemory, type PidNamespaceMode, type PodRuntime, type ProcessMemory, type RuntimeName } from './pods.js';
import { formatNumber, goalsOutcome, median, ratioGoal, type Benchmark, type BenchContext } from './report.js';

/**
 * What running pods cost in memory: the processes each runtime keeps per
 * container (crion-monitor) or per pod (containerd-shim-runc-v2), and the
 * daemon itself with many pods; and how long a node's worth of pods takes
 * to start. Each runtime runs alone on a fresh root, its pods started one
 * after another or a few at a time, and is removed before the next one starts.
 */

const MONITOR_PODS = 10;
const MONITOR_TARGET_KIB = 512;
const DAEMON_PODS = 50;
/** Lets helpers finish their start-up work (a shim's goroutines, a monitor's first log write) before reading. */
const SETTLE_MS = 2000;
const RUNTIMES: readonly RuntimeName[] = ['crion', 'containerd'];

/** How the pods are started: one after another, or `concurrency` at a time. */
interface PodsPlan {
  readonly pods: number;
  readonly concurrency: number;
  readonly pid: PidNamespaceMode;
}

/** Shared PID namespace, one after another: every pod has crion's pod init or containerd's pause container. */
const SEQUENTIAL_SHARED_PID = { concurrency: 1, pid: 'POD' } as const;

interface Population {
  readonly runtime: RuntimeName;
  readonly label: string;
  readonly pods: number;
  /** Wall time from the first RunPodSandbox to the last StartContainer. */
  readonly startMs: number;
  /** What every process on the machine (crictl, runc, the daemon, other work) spent in CPU meanwhile. */
  readonly machineCpuSeconds: number;
  /** crion's own latency of each RPC during the run (median and count), from its log; empty for containerd. */
  readonly rpcs: Record<string, { readonly count: number; readonly medianMs: number }>;
  readonly daemonIdle: ProcessMemory;
  readonly daemon: ProcessMemory;
  readonly helpers: readonly ProcessMemory[];
}

/** Starts `runtime` with `plan.pods` running pods, one sleeping container each, reads memory, removes it all. */
async function populate(context: BenchContext, rig: PodRig, name: RuntimeName, plan: PodsPlan): Promise<Population> {
  const { pods, concurrency, pid } = plan;
  context.progress(`pod memory: ${name} with ${pods} pods, ${concurrency} at a time`);
  const runtime: PodRuntime = await rig.start(name);
  try {
    const daemonIdle = processMemory(runtime.daemonPid);
    const cpuBefore = machineCpuSeconds();
    const started = await rig.runPods(runtime, { prefix: `${name}-mem-${pods}-${concurrency}`, count: pods, concurrency, pid });
    const machineCpu = machineCpuSeconds() - cpuBefore;
    const latencies = new Map<string, number[]>();
    for (const line of runtime.logLines('rpc finished')) {
      if (typeof line.rpc === 'string' && typeof line.latencyMs === 'number')
        latencies.set(line.rpc, [...(latencies.get(line.rpc) ?? []), line.latencyMs]);
    }
    const rpcs = Object.fromEntries([...latencies].map(([rpc, values]) => [rpc, { count: values.length, medianMs: median(values) }]));
    await sleep(SETTLE_MS);
    const helpers = runtime.helperPids().map(processMemory);
    if (helpers.length < pods) throw runtime.failure(`${helpers.length} helper processes for ${pods} running pods`);
    return {
      runtime: name,
      label: runtime.label,
      pods,
      startMs: started.ms,
      machineCpuSeconds: machineCpu,
      rpcs,
      daemonIdle,
      daemon: processMemory(runtime.daemonPid),
      helpers,
    };
  } finally {
    await runtime.dispose();
  }
}

async function populateEach(context: BenchContext, plan: PodsPlan): Promise<Population[]> {
  const rig = await PodRig.start(context);
  try {
    const populations: Population[] = [];
    for (const name of RUNTIMES) populations.push(await populate(context, rig, name, plan));
    return populations;
  } finally {
    await rig.dispose();
  }
}

const HELPER_NAME: Record<RuntimeName, string> = { crion: 'crion-monitor', containerd: 'containerd-shim-runc-v2' };

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

export const monitorMemory: Benchmark = {
  id: 'monitor-memory',
  title: 'Per-container monitor memory: crion-monitor vs containerd-shim-runc-v2',
  target: `every crion-monitor's RssAnon below ${MONITOR_TARGET_KIB} KiB with ${MONITOR_PODS} pods running`,
  async run(context) {
    const populations = await populateEach(context, { pods: MONITOR_PODS, ...SEQUENTIAL_SHARED_PID });
    const crion = populations.find((population) => population.runtime === 'crion')!;
    const worst = Math.max(...crion.helpers.map((helper) => helper.rssAnonKiB));
    const rows = populations.map((population) => {
      const anon = population.helpers.map((helper) => helper.rssAnonKiB);
      const pss = population.helpers.map((helper) => helper.pssKiB);
      return [
        `${HELPER_NAME[population.runtime]} (${population.label})`,
        String(population.helpers.length),
        formatNumber(median(anon), 0),
        formatNumber(Math.max(...anon), 0),
        formatNumber(median(pss), 0),
        formatNumber(Math.max(...pss), 0),
        formatNumber(sum(pss) / population.pods, 0),
      ];
    });
    return {
      verdict: worst < MONITOR_TARGET_KIB ? 'met' : 'not met',
      summary: `largest crion-monitor RssAnon ${worst} KiB (target < ${MONITOR_TARGET_KIB} KiB) over ${crion.helpers.length} monitors`,
      table: {
        columns: ['Process', 'Count', 'Median RssAnon KiB', 'Max RssAnon KiB', 'Median Pss KiB', 'Max Pss KiB', 'Pss per pod KiB'],
        rows,
      },
      notes: [
        `${MONITOR_PODS} host-network pods, one busybox container each sleeping in a shell, started with crictl; ` +
          `read ${SETTLE_MS / 1000} s after the last start.`,
        "RssAnon (from /proc/PID/status) is the process's own anonymous memory; Pss (/proc/PID/smaps_rollup) adds its share of " +
          'mapped files and shared pages, so many copies of one binary each count a fraction of its text.',
        'crion runs one monitor per container and, for a pod sharing its PID namespace, its pod init (both crion-monitor); containerd runs one shim per pod, ' +
          'holding the pause container and the pod\'s containers. "Pss per pod" divides all of a runtime\'s helpers among the pods.',
      ],
      data: { pods: MONITOR_PODS, populations },
    };
  },
};

export const daemonRss: Benchmark = {
  id: 'daemon-rss-pods',
  title: `Daemon memory with ${DAEMON_PODS} running pods: crion vs containerd`,
  target: `reported, no target yet: the daemon's RSS with ${DAEMON_PODS} pods running, containerd's alongside`,
  async run(context) {
    const populations = await populateEach(context, { pods: DAEMON_PODS, ...SEQUENTIAL_SHARED_PID });
    const MiB = 1024;
    const rows = populations.map((population) => [
      population.label,
      formatNumber(population.daemonIdle.rssKiB / MiB),
      formatNumber(population.daemon.rssKiB / MiB),
      formatNumber(population.daemon.rssAnonKiB / MiB),
      formatNumber(population.daemon.pssKiB / MiB),
      formatNumber(sum(population.helpers.map((helper) => helper.pssKiB)) / MiB),
      formatNumber((population.daemon.pssKiB + sum(population.helpers.map((helper) => helper.pssKiB))) / MiB),
    ]);
    const of = (name: RuntimeName): Population => populations.find((population) => population.runtime === name)!;
    return {
      verdict: 'reported',
      summary:
        `crion's daemon holds ${formatNumber(of('crion').daemon.rssKiB / MiB)} MiB RSS with ${DAEMON_PODS} pods, ` +
        `containerd ${formatNumber(of('containerd').daemon.rssKiB / MiB)} MiB`,
      table: {
        columns: ['Runtime', 'Idle RSS MiB', 'RSS MiB', 'RssAnon MiB', 'Pss MiB', 'Helpers Pss MiB', 'Daemon + helpers Pss MiB'],
        rows,
      },
      notes: [
        `${DAEMON_PODS} host-network pods, one busybox container each sleeping in a shell, started one after another with crictl; ` +
          `read ${SETTLE_MS / 1000} s after the last start. Idle: once the daemon serves, images pulled, no pod.`,
        "Daemon: crion's Node process; containerd's daemon (its CRI plugin included). Helpers: every crion-monitor, or every " +
          'containerd-shim-runc-v2, of that daemon; their Pss sums to what they cost together.',
        'crion runs at log level info; the V8 heap grows lazily and is collected when it likes, so its RSS moves by a few MiB between runs.',
      ],
      data: { pods: DAEMON_PODS, populations },
    };
  },
};

/** The whole runtime's proportional memory: the daemon and every monitor or shim of it. */
const runtimePssKiB = (population: Population): number => population.daemon.pssKiB + sum(population.helpers.map((helper) => helper.pssKiB));

const START_TARGET_RATIO = 0.5;
const PSS_TARGET_RATIO = 0.3;

/**
 * A full node: `pods` pods (the kubelet's default maxPods is 110), one container each, started `concurrency`
 * at a time (the kubelet starts pods from one worker each, in parallel), the time it all takes and what the
 * whole runtime then holds.
 */
export function podsAtScale(pods: number, concurrency: number): Benchmark {
  return {
    id: `pods-${pods}`,
    title: `${pods} pods started ${concurrency} at a time: wall time and the whole runtime's memory, crion vs containerd`,
    target:
      `crion starts ${pods} pods (one container each, the kubelet's default pod) at concurrency ${concurrency} in at most ` +
      `${START_TARGET_RATIO}× containerd's wall time, and then holds at most ${PSS_TARGET_RATIO}× its Pss (daemon + monitors against daemon + shims)`,
    async run(context) {
      const populations = await populateEach(context, { pods, concurrency, pid: 'CONTAINER' });
      const of = (name: RuntimeName): Population => populations.find((population) => population.runtime === name)!;
      const MiB = 1024;
      const goals = [
        ratioGoal(
          `${pods} pods started, ${concurrency} at a time`,
          's',
          of('crion').startMs / 1000,
          of('containerd').startMs / 1000,
          START_TARGET_RATIO,
        ),
        ratioGoal(`runtime Pss with ${pods} pods`, 'MiB', runtimePssKiB(of('crion')) / MiB, runtimePssKiB(of('containerd')) / MiB, PSS_TARGET_RATIO),
      ];
      return {
        ...goalsOutcome(goals),
        table: {
          columns: [
            'Runtime',
            'Wall s',
            'Per pod ms',
            'Machine CPU s',
            'Daemon Pss MiB',
            'Helpers',
            'Helpers Pss MiB',
            'Runtime Pss MiB',
            'Daemon RSS MiB',
          ],
          rows: populations.map((population) => [
            population.label,
            formatNumber(population.startMs / 1000, 2),
            formatNumber(population.startMs / population.pods),
            formatNumber(population.machineCpuSeconds),
            formatNumber(population.daemon.pssKiB / MiB),
            String(population.helpers.length),
            formatNumber(sum(population.helpers.map((helper) => helper.pssKiB)) / MiB),
            formatNumber(runtimePssKiB(population) / MiB),
            formatNumber(population.daemon.rssKiB / MiB),
          ]),
        },
        notes: [
          `${pods} host-network pods, PID namespace per container as the kubelet sends by default, one busybox container each ` +
            `sleeping in a shell; ${concurrency} crictl workers, each running \`runp\`, \`create\`, \`start\` for one pod after another. ` +
            'Wall: from the first call to the last return, with every call a crictl process (on 2 cores, their start-up competes with the daemons).',
          `Memory read ${SETTLE_MS / 1000} s after the last start, Pss from /proc/PID/smaps_rollup: crion's Node daemon and every crion-monitor ` +
            '(one per container; this pod has no pause container), containerd (its CRI plugin included) and every containerd-shim-runc-v2 (one per pod).',
          'Machine CPU: busy time of all cores from /proc/stat while the pods started, every process included (crictl, runc, other work on the host).',
          `crion's own latency per call since it started (median, count; the two pulls before the pods included): ${Object.entries(of('crion').rpcs)
            .map(([rpc, { count, medianMs }]) => `${rpc} ${formatNumber(medianMs)} ms (${count})`)
            .join(', ')}.`,
          'Each runtime alone on a fresh root, images pulled first; one run, not a median.',
        ],
        data: { pods, concurrency, populations },
      };
    },
  };
}
