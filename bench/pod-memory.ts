import { setTimeout as sleep } from 'node:timers/promises';
import { PodRig, processMemory, type PodRuntime, type ProcessMemory, type RuntimeName } from './pods.js';
import { formatNumber, median, type Benchmark, type BenchContext } from './report.js';

/**
 * What running pods cost in memory: the processes each runtime keeps per
 * container (crion-monitor) or per pod (containerd-shim-runc-v2), and the
 * daemon itself with many pods. Each runtime runs alone on a fresh root,
 * its pods started one after another, and is removed before the next one starts.
 */

const MONITOR_PODS = 10;
const MONITOR_TARGET_KIB = 512;
const DAEMON_PODS = 50;
/** Lets helpers finish their start-up work (a shim's goroutines, a monitor's first log write) before reading. */
const SETTLE_MS = 2000;
const RUNTIMES: readonly RuntimeName[] = ['crion', 'containerd'];

interface Population {
  readonly runtime: RuntimeName;
  readonly label: string;
  readonly pods: number;
  readonly daemonIdle: ProcessMemory;
  readonly daemon: ProcessMemory;
  readonly helpers: readonly ProcessMemory[];
}

/** Starts `runtime` with `pods` running pods, one sleeping container each, reads memory, removes it all. */
async function populate(context: BenchContext, rig: PodRig, name: RuntimeName, pods: number): Promise<Population> {
  context.progress(`pod memory: ${name} with ${pods} pods`);
  const runtime: PodRuntime = await rig.start(name);
  try {
    const daemonIdle = processMemory(runtime.daemonPid);
    for (let n = 1; n <= pods; n++) await rig.runPod(runtime, `${name}-mem-${pods}-${n}`);
    await sleep(SETTLE_MS);
    const helpers = runtime.helperPids().map(processMemory);
    if (helpers.length < pods) throw runtime.failure(`${helpers.length} helper processes for ${pods} running pods`);
    return { runtime: name, label: runtime.label, pods, daemonIdle, daemon: processMemory(runtime.daemonPid), helpers };
  } finally {
    await runtime.dispose();
  }
}

async function populateEach(context: BenchContext, pods: number): Promise<Population[]> {
  const rig = await PodRig.start(context);
  try {
    const populations: Population[] = [];
    for (const name of RUNTIMES) populations.push(await populate(context, rig, name, pods));
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
    const populations = await populateEach(context, MONITOR_PODS);
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
        "crion runs one monitor per container, the pod's infra (pause) container included when it has one; containerd runs one shim per pod, " +
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
    const populations = await populateEach(context, DAEMON_PODS);
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
