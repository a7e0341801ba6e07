import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { unpackLayerJs, type LayerCompression, type LayerUnpacker } from '../src/image/unpack/index.js';
import * as native from '../src/native/index.js';
import { loadLayerCorpus, type CorpusLayer, type LayerCorpus } from './layer-corpus.js';
import { formatNumber, median, type Benchmark, type Outcome } from './report.js';

/**
 * Both layer unpackers on the same blobs, one layer after another as one
 * pull of the image would hand them over, in this process so that
 * `process.cpuUsage` counts every thread either one uses.
 */

const TARGET_RATIO = 3;
const MB = 1e6;

type UnpackerName = 'native' | 'ts';

interface Sample {
  readonly run: number;
  readonly compression: LayerCompression;
  readonly unpacker: UnpackerName;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly entries: number;
}

export const unpackThroughput: Benchmark = {
  id: 'unpack-throughput',
  title: 'Layer unpack throughput: native vs TypeScript',
  target: `the native unpacker at least ${TARGET_RATIO}× the TypeScript one (MB/s of uncompressed tar), for gzip and for zstd blobs`,
  async run(context) {
    context.progress('unpack: preparing the layer corpus (the first run builds and caches it)');
    const corpus = await loadLayerCorpus(context.cacheDir);
    const nativeUnpacker = loadNativeUnpacker();
    const unpackers = new Map<UnpackerName, LayerUnpacker>([['ts', unpackLayerJs]]);
    if (typeof nativeUnpacker !== 'string') unpackers.set('native', nativeUnpacker);

    for (const layer of [...corpus.gzip, ...corpus.zstd]) await readThrough(layer.blobPath);

    const samples: Sample[] = [];
    const runDir = path.join(context.workDir, 'unpack');
    for (let run = 1; run <= context.runs; run++) {
      // Alternating which goes first spreads any drift in the machine over both.
      const order = [...unpackers.keys()];
      if (run % 2 === 0) order.reverse();
      for (const compression of ['gzip', 'zstd'] as const) {
        for (const unpacker of order) {
          context.progress(`unpack: run ${run}/${context.runs}, ${compression}, ${unpacker}`);
          const timing = await timeUnpack(unpackers.get(unpacker)!, corpus[compression], runDir);
          samples.push({ run, compression, unpacker, ...timing });
        }
      }
    }
    await rm(runDir, { recursive: true, force: true });
    return outcome(samples, corpus, nativeUnpacker);
  },
};

/** The native unpacker, or why it cannot run here. */
function loadNativeUnpacker(): LayerUnpacker | string {
  const exported: unknown = Reflect.get(native, 'unpackLayerNative');
  if (typeof exported !== 'function') return 'src/native does not export unpackLayerNative yet';
  try {
    native.loadAddon();
  } catch (error) {
    return (error as Error).message;
  }
  return exported as LayerUnpacker;
}

/** Reads a blob once so that every timed run finds it in the page cache: the benchmark measures unpacking, not the disk. */
async function readThrough(file: string): Promise<void> {
  for await (const _chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    // Only the read matters.
  }
}

async function timeUnpack(
  unpack: LayerUnpacker,
  layers: readonly CorpusLayer[],
  runDir: string,
): Promise<Omit<Sample, 'run' | 'compression' | 'unpacker'>> {
  await rm(runDir, { recursive: true, force: true });
  const destinations = layers.map((_, index) => path.join(runDir, `layer-${index}`));
  for (const destination of destinations) await mkdir(destination, { recursive: true });
  // The previous run's files are written back before the clock starts, so
  // no run pays for another's writeback; this run's own writes stay in the
  // page cache (far below the dirty limits), as they would during a pull.
  execFileSync('sync');

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let entries = 0;
  for (const [index, layer] of layers.entries()) {
    const result = await unpack({
      blobPath: layer.blobPath,
      destination: destinations[index]!,
      compression: layer.compression,
      maxUncompressedBytes: Number.MAX_SAFE_INTEGER,
    });
    // A fast unpacker that writes the wrong bytes is not a result.
    if (result.diffId !== layer.diffId) {
      throw new Error(`${layer.blobPath} unpacked to ${result.diffId}, expected ${layer.diffId}`);
    }
    entries += result.entries;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, entries };
}

function outcome(samples: readonly Sample[], corpus: LayerCorpus, nativeUnpacker: LayerUnpacker | string): Outcome {
  const { uncompressedBytes } = corpus;
  const throughput = (compression: LayerCompression, unpacker: UnpackerName): number[] =>
    samples.filter((s) => s.compression === compression && s.unpacker === unpacker).map((s) => uncompressedBytes / MB / s.seconds);
  const ratios = new Map<'gzip' | 'zstd', number>();
  const rows: string[][] = [];
  for (const compression of ['gzip', 'zstd'] as const) {
    const blobMB = corpus[compression].reduce((sum, layer) => sum + layer.blobSize, 0) / MB;
    const tsMedian = median(throughput(compression, 'ts'));
    for (const unpacker of ['native', 'ts'] as const) {
      const mbps = throughput(compression, unpacker);
      const own = samples.filter((s) => s.compression === compression && s.unpacker === unpacker);
      if (own.length === 0) {
        rows.push([compression, unpacker, formatNumber(blobMB), 'not run', '', '', '', '']);
        continue;
      }
      const ratio = median(mbps) / tsMedian;
      if (unpacker === 'native') ratios.set(compression, ratio);
      rows.push([
        compression,
        unpacker,
        formatNumber(blobMB),
        formatNumber(median(mbps)),
        formatNumber(Math.max(...mbps)),
        formatNumber(median(own.map((s) => s.seconds)), 2),
        formatNumber(median(own.map((s) => s.cpuSeconds)), 2),
        `${formatNumber(ratio, 2)}×`,
      ]);
    }
  }

  const figures = [...ratios].map(([compression, ratio]) => `${formatNumber(ratio, 2)}× on ${compression}`).join(', ');
  const verdict =
    typeof nativeUnpacker === 'string' ? 'not measured' : [...ratios.values()].every((r) => r >= TARGET_RATIO) ? 'met' : 'not met';
  const summary =
    typeof nativeUnpacker === 'string'
      ? `the native unpacker did not run (${firstLine(nativeUnpacker)}); the TypeScript one alone is measured`
      : `native/TS throughput ${figures} (target ${TARGET_RATIO}×)`;
  const entries = samples[0]?.entries ?? 0;
  return {
    verdict,
    summary,
    table: {
      columns: ['Blob', 'Unpacker', 'Blob MB', 'Median MB/s', 'Best MB/s', 'Median wall s', 'Median CPU s', 'vs TS'],
      rows,
    },
    notes: [
      `Input: the ${corpus.gzip.length} layers of crion-test/big, ${formatNumber(uncompressedBytes / MB)} MB of tar in ${entries} entries ` +
        '(half 4 MiB random files, half 16 KiB text files); the zstd blobs are the same tars at zstd level 3. ' +
        'MB/s is uncompressed tar bytes (10^6) per wall second; each unpack is checked against the layer\'s diffID.',
      'Layers are unpacked one after another, each into a fresh directory on the work directory\'s filesystem. ' +
        'Blobs are read once beforehand (page cache warm: unpacking, not the disk, is measured); `sync` runs before each timed ' +
        'run and the page cache is not dropped, so written files stay in memory as during a pull.',
      'CPU s is user+system time of the whole process (all threads), so it shows how much parallelism each unpacker uses.',
      ...(typeof nativeUnpacker === 'string' ? [`Native unpacker unavailable: ${nativeUnpacker}`] : []),
    ],
    data: { uncompressedBytes, entries, blobs: { gzip: corpus.gzip, zstd: corpus.zstd }, samples, nativeUnavailable: typeof nativeUnpacker === 'string' ? nativeUnpacker : null },
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!;
}
