import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { publishBigImage } from '../__test__/helpers/big-image.js';
import { startSharedDaemon } from '../__test__/helpers/daemon.js';
import type { PublishedImage } from '../__test__/helpers/published-image.js';
import { Registry } from '../__test__/helpers/registry.js';
import { Containerd, containerdVersion } from '../__test__/helpers/containerd.js';
import { Crictl } from '../__test__/helpers/cri-tools.js';
import { unmountUnder } from './mounts.js';
import { formatNumber, median, type Benchmark, type BenchContext, type Outcome } from './report.js';

/**
 * `crictl pull` of the same image from the same loopback registry, against
 * crion and against containerd, each started fresh on an empty store for
 * every pull and stopped after it, so every pull downloads and unpacks all
 * four layers. Runs alternate between the two so that drift in the machine
 * lands on both.
 */

const TARGET_RATIO = 0.5;
const PULL_TIMEOUT_MS = 5 * 60_000;
const MB = 1e6;
const MiB = 1024 * 1024;

type Runtime = 'crion' | 'containerd';

interface Sample {
  readonly run: number;
  readonly runtime: Runtime;
  readonly seconds: number;
  /** VmHWM of the daemon process once it serves, before the pull: what it costs idle. */
  readonly readyRssBytes: number;
  /** VmHWM of the daemon process after the pull: its peak resident memory from start through the pull. */
  readonly peakRssBytes: number;
}

interface PullSetup {
  readonly context: BenchContext;
  /**
   * Removals of the daemons' roots, run once every pull is done: ext4
   * without a journal (this host's) scans past recently freed inodes on
   * every file it creates, so a pull made right after the previous one's
   * 6,400 files were removed would measure mostly that scan.
   */
  readonly removals: (() => Promise<void>)[];
  readonly crictl: Crictl;
  readonly registry: Registry;
  readonly image: PublishedImage;
  readonly registriesConf: string;
  readonly registriesConfDir: string;
}

export const pullVsContainerd: Benchmark = {
  id: 'pull-vs-containerd',
  title: 'Pull and unpack: crion vs containerd',
  target: `crion's median \`crictl pull\` wall time at most ${TARGET_RATIO}× containerd's, cold store, ~200 MiB image of 4 layers`,
  async run(context) {
    const version = await containerdVersion();
    const crictl = await Crictl.find(context.workDir);
    const registry = await Registry.start({ auth: 'none' });
    const removals: (() => Promise<void>)[] = [];
    try {
      context.progress('pull: pushing crion-test/big to a loopback registry');
      const image = await publishBigImage(registry, { cacheDir: context.cacheDir });
      const setup = { context, crictl, registry, image, removals, ...(await registriesConfig(context.workDir, registry.host)) };
      const samples: Sample[] = [];
      for (let run = 1; run <= context.runs; run++) {
        for (const runtime of ['crion', 'containerd'] as const) {
          context.progress(`pull: run ${run}/${context.runs}, ${runtime}`);
          const measured = runtime === 'crion' ? await pullWithCrion(setup) : await pullWithContainerd(setup);
          samples.push({ run, runtime, ...measured });
        }
      }
      return outcome(samples, image, version);
    } finally {
      for (const remove of removals) await remove();
      await registry.dispose();
    }
  },
};

/** Marks the loopback registry insecure (plain HTTP); the empty drop-in directory keeps the host's files out. */
async function registriesConfig(workDir: string, host: string): Promise<{ registriesConf: string; registriesConfDir: string }> {
  const registriesConf = path.join(workDir, 'registries.conf');
  const registriesConfDir = path.join(workDir, 'registries.conf.d');
  await writeFile(registriesConf, `[[registry]]\nlocation = ${JSON.stringify(host)}\ninsecure = true\n`);
  await mkdir(registriesConfDir, { recursive: true });
  return { registriesConf, registriesConfDir };
}

async function pullWithCrion(setup: PullSetup): Promise<Omit<Sample, 'run' | 'runtime'>> {
  const daemon = await startSharedDaemon({
    // Debug lines cost time on the hot path; production runs at info.
    logLevel: 'info',
    args: ['--image-registries-conf', setup.registriesConf, '--image-registries-conf-dir', setup.registriesConfDir, '--image-unpack', 'native'],
  });
  try {
    const readyRssBytes = await peakRss(daemon.child.pid!);
    const seconds = await timePull(setup, daemon.endpoint, (message) => daemon.failure(message));
    const peakRssBytes = await peakRss(daemon.child.pid!);
    const layers = await readdir(path.join(daemon.dir, 'root', 'overlay', 'layers'));
    if (layers.length !== setup.image.layers.length) {
      throw daemon.failure(`crion's store holds ${layers.length} unpacked layers after the pull, expected ${setup.image.layers.length}`);
    }
    return { seconds, readyRssBytes, peakRssBytes };
  } finally {
    try {
      await daemon.stop();
    } finally {
      unmountUnder(daemon.dir);
      setup.removals.push(() => daemon.dispose());
    }
  }
}

async function pullWithContainerd(setup: PullSetup): Promise<Omit<Sample, 'run' | 'runtime'>> {
  const containerd = await Containerd.start(setup.context.workDir, setup.registry.host, setup.crictl);
  try {
    const readyRssBytes = await peakRss(containerd.pid);
    const seconds = await timePull(setup, containerd.endpoint, (message) => containerd.failure(message));
    const peakRssBytes = await peakRss(containerd.pid);
    // The CRI plugin pulls with unpack into the configured snapshotter; one snapshot per layer proves it did.
    const snapshots = await readdir(containerd.snapshotsDir);
    if (snapshots.length !== setup.image.layers.length) {
      throw containerd.failure(`containerd holds ${snapshots.length} snapshots after the pull, expected ${setup.image.layers.length}`);
    }
    return { seconds, readyRssBytes, peakRssBytes };
  } finally {
    await containerd.stop();
    unmountUnder(containerd.dir);
    setup.removals.push(() => rm(containerd.dir, { recursive: true, force: true, maxRetries: 3 }));
  }
}

async function timePull(setup: PullSetup, endpoint: string, failure: (message: string) => Error): Promise<number> {
  // Writeback of the previous run's 200 MB must not land inside this one.
  execFileSync('sync');
  const started = performance.now();
  const result = await setup.crictl.run(endpoint, ['pull', setup.image.reference], PULL_TIMEOUT_MS);
  const seconds = (performance.now() - started) / 1000;
  if (result.code !== 0) {
    throw failure(`crictl pull ${setup.image.reference} exited ${result.code}\n${result.stderr}${result.stdout}`);
  }
  return seconds;
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function outcome(samples: readonly Sample[], image: PublishedImage, containerdVersion: string): Outcome {
  const of = (runtime: Runtime): Sample[] => samples.filter((sample) => sample.runtime === runtime);
  const containerdMedian = median(of('containerd').map((s) => s.seconds));
  const uncompressedBytes = image.layers.reduce((sum, layer) => sum + layer.uncompressedSize, 0);
  const rows = (['crion', 'containerd'] as const).map((runtime) => {
    const seconds = of(runtime).map((s) => s.seconds);
    return [
      runtime === 'containerd' ? `containerd ${containerdVersion}` : 'crion',
      formatNumber(median(seconds), 2),
      formatNumber(Math.min(...seconds), 2),
      formatNumber(Math.max(...seconds), 2),
      formatNumber(uncompressedBytes / MB / median(seconds)),
      formatNumber(median(of(runtime).map((s) => s.readyRssBytes)) / MiB, 0),
      formatNumber(median(of(runtime).map((s) => s.peakRssBytes)) / MiB, 0),
      `${formatNumber(median(seconds) / containerdMedian, 2)}×`,
    ];
  });
  const ratio = median(of('crion').map((s) => s.seconds)) / containerdMedian;
  return {
    verdict: ratio <= TARGET_RATIO ? 'met' : 'not met',
    summary: `crion takes ${formatNumber(ratio, 2)}× containerd's time (target ≤ ${TARGET_RATIO}×)`,
    table: {
      columns: ['Runtime', 'Median s', 'Min s', 'Max s', 'Median MB/s', 'Idle RSS MiB', 'Peak RSS MiB', 'vs containerd'],
      rows,
    },
    notes: [
      `Image: ${image.reference.replace(/^[^/]+\//, '')}, ${image.layers.length} gzip layers, ` +
        `${formatNumber(image.layersSize / MB)} MB compressed, ${formatNumber(uncompressedBytes / MB)} MB uncompressed, ` +
        'served by docker-registry on 127.0.0.1 over plain HTTP.',
      'Wall time of `crictl pull` (the same binary for both, process start included) against a daemon started beforehand on an ' +
        "empty root and stopped after the pull; `sync` before each pull. The registry's blobs stay in the page cache. " +
        'Every root is removed only after the last pull: on ext4 without a journal a removal just before a pull makes the ' +
        'filesystem scan past the freed inodes on every file the pull creates.',
      'crion: started with `--image-unpack native` (the default), other settings at their defaults (6 concurrent downloads, unpacks up to one per core). ' +
        'containerd: CRI plugin defaults (3 concurrent downloads), overlayfs snapshotter, pull with unpack.',
      "RSS is the daemon's VmHWM (high-water mark) of a fresh process: idle once it serves, peak after the pull.",
    ],
    data: { image: { reference: image.reference, layers: image.layers, layersSize: image.layersSize }, containerdVersion, samples },
  };
}
