import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../__test__/helpers/process.js';
import { unpackLayerJs, type LayerUnpacker } from '../src/image/unpack/index.js';
import * as native from '../src/native/index.js';
import { loadLayerCorpus, type CorpusLayer, type LayerCorpus } from './layer-corpus.js';
import { formatNumber, median, type Benchmark, type Outcome } from './report.js';

/**
 * Both layer unpackers on the same blobs, one layer after another as one
 * pull of the image would hand them over, in this process so that
 * `process.cpuUsage` counts every thread either one uses. GNU tar runs
 * alongside as a reference: it shows how much of the time the host's
 * filesystem takes whoever unpacks, which bounds any ratio between the two.
 */

const TARGET_RATIO = 3;
const MB = 1e6;
const TAR_TIMEOUT_MS = 5 * 60_000;

type Compression = 'gzip' | 'zstd';
type UnpackerName = 'native' | 'ts' | 'tar';

const LABELS: Record<UnpackerName, string> = { native: 'native', ts: 'ts', tar: 'GNU tar (reference)' };

/** Unpacks one layer into its empty destination; resolves to the entry count when the unpacker reports one. */
type Extract = (layer: CorpusLayer, destination: string) => Promise<number | null>;

interface Sample {
  readonly run: number;
  readonly compression: Compression;
  readonly unpacker: UnpackerName;
  readonly seconds: number;
  /** Null for tar: its work happens in child processes, which `process.cpuUsage` does not see. */
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number } | null;
  readonly entries: number | null;
}

export const unpackThroughput: Benchmark = {
  id: 'unpack-throughput',
  title: 'Layer unpack throughput: native vs TypeScript',
  target: `the native unpacker at least ${TARGET_RATIO}× the TypeScript one (MB/s of uncompressed tar), for gzip and for zstd blobs`,
  async run(context) {
    context.progress('unpack: preparing the layer corpus (the first run builds and caches it)');
    const corpus = await loadLayerCorpus(context.cacheDir);
    const nativeUnpacker = loadNativeUnpacker();
    const extractors = new Map<UnpackerName, Extract>();
    if (typeof nativeUnpacker !== 'string') extractors.set('native', checked(nativeUnpacker));
    extractors.set('ts', checked(unpackLayerJs));
    extractors.set('tar', systemTar);

    for (const layer of [...corpus.gzip, ...corpus.zstd]) await readThrough(layer.blobPath);

    const samples: Sample[] = [];
    const runDir = path.join(context.workDir, 'unpack');
    await rm(runDir, { recursive: true, force: true });
    for (let run = 1; run <= context.runs; run++) {
      // Alternating the order spreads any drift in the machine over all of them.
      const order = [...extractors.keys()];
      if (run % 2 === 0) order.reverse();
      for (const compression of ['gzip', 'zstd'] as const) {
        for (const unpacker of order) {
          context.progress(`unpack: run ${run}/${context.runs}, ${compression}, ${LABELS[unpacker]}`);
          const destination = path.join(runDir, `${run}-${compression}-${unpacker}`);
          const timing = await timeUnpack(extractors.get(unpacker)!, corpus[compression], destination, unpacker !== 'tar');
          samples.push({ run, compression, unpacker, ...timing });
        }
      }
    }
    // The files go with the work directory at exit, so that the benchmarks
    // after this one do not meet their freed inodes either.
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

/** A crion unpacker, held to its contract: a fast unpacker that yields the wrong bytes is not a result. */
function checked(unpack: LayerUnpacker): Extract {
  return async (layer, destination) => {
    const result = await unpack({
      blobPath: layer.blobPath,
      destination,
      compression: layer.compression,
      maxUncompressedBytes: Number.MAX_SAFE_INTEGER,
    });
    if (result.diffId !== layer.diffId) {
      throw new Error(`${layer.blobPath} unpacked to ${result.diffId}, expected ${layer.diffId}`);
    }
    return result.entries;
  };
}

/** tar with gzip or zstd in a second process; it hashes nothing, so it does less than either unpacker. */
async function systemTar(layer: CorpusLayer, destination: string): Promise<null> {
  const filter = layer.compression === 'zstd' ? '--zstd' : '--gzip';
  const result = await run('tar', ['-x', filter, '-f', layer.blobPath, '-C', destination], { timeoutMs: TAR_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`tar ${filter} -x ${layer.blobPath} exited ${result.code}: ${result.stderr}`);
  return null;
}

/** Reads a blob once so that every timed run finds it in the page cache: the benchmark measures unpacking, not the disk. */
async function readThrough(file: string): Promise<void> {
  for await (const _chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    // Only the read matters.
  }
}

/**
 * Unpacks into `runDir`, a directory of its own. Every run's files stay
 * until the benchmark ends: ext4 without a journal (this host's) skips
 * recently deleted inodes when it allocates one, scanning past each of them
 * on every file it creates (`recently_deleted` in `find_inode_bit`), so a run
 * made right after the previous one's removal measured mostly that scan.
 */
async function timeUnpack(
  extract: Extract,
  layers: readonly CorpusLayer[],
  runDir: string,
  inProcess: boolean,
): Promise<Pick<Sample, 'seconds' | 'cpu' | 'entries'>> {
  const destinations = layers.map((_, index) => path.join(runDir, `layer-${index}`));
  for (const destination of destinations) await mkdir(destination, { recursive: true });
  // The previous run's files are written back before the clock starts, so
  // no run pays for another's writeback; this run's own writes stay in the
  // page cache (far below the dirty limits), as they would during a pull.
  execFileSync('sync');

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let entries: number | null = 0;
  for (const [index, layer] of layers.entries()) {
    const extracted = await extract(layer, destinations[index]!);
    entries = extracted === null || entries === null ? null : entries + extracted;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { seconds, cpu: inProcess ? { userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6 } : null, entries };
}

function outcome(samples: readonly Sample[], corpus: LayerCorpus, nativeUnpacker: LayerUnpacker | string): Outcome {
  const { uncompressedBytes } = corpus;
  const of = (compression: Compression, unpacker: UnpackerName): Sample[] =>
    samples.filter((s) => s.compression === compression && s.unpacker === unpacker);
  const throughput = (own: readonly Sample[]): number[] => own.map((s) => uncompressedBytes / MB / s.seconds);

  const ratios = new Map<Compression, number>();
  const rows: string[][] = [];
  for (const compression of ['gzip', 'zstd'] as const) {
    const blobMB = formatNumber(corpus[compression].reduce((sum, layer) => sum + layer.blobSize, 0) / MB);
    const tsMedian = median(throughput(of(compression, 'ts')));
    for (const unpacker of ['native', 'ts', 'tar'] as const) {
      const own = of(compression, unpacker);
      if (own.length === 0) {
        rows.push([compression, LABELS[unpacker], blobMB, 'not run', '', '', '', '', '']);
        continue;
      }
      const mbps = throughput(own);
      const ratio = median(mbps) / tsMedian;
      if (unpacker === 'native') ratios.set(compression, ratio);
      const cpu = own.map((s) => s.cpu).filter((value) => value !== null);
      rows.push([
        compression,
        LABELS[unpacker],
        blobMB,
        formatNumber(median(mbps)),
        formatNumber(Math.max(...mbps)),
        formatNumber(median(own.map((s) => s.seconds)), 2),
        cpu.length > 0 ? formatNumber(median(cpu.map((c) => c.userSeconds)), 2) : '—',
        cpu.length > 0 ? formatNumber(median(cpu.map((c) => c.systemSeconds)), 2) : '—',
        `${formatNumber(ratio, 2)}×`,
      ]);
    }
  }

  const unavailable = typeof nativeUnpacker === 'string' ? nativeUnpacker : null;
  const figures = [...ratios].map(([compression, ratio]) => `${formatNumber(ratio, 2)}× on ${compression}`).join(', ');
  const entries = samples.find((s) => s.entries !== null)?.entries ?? 'unknown';
  return {
    verdict: unavailable !== null ? 'not measured' : [...ratios.values()].every((r) => r >= TARGET_RATIO) ? 'met' : 'not met',
    summary:
      unavailable !== null
        ? `the native unpacker did not run (${unavailable.split('\n')[0]}); the TypeScript one alone is measured`
        : `native/TS throughput ${figures} (target ${TARGET_RATIO}×)`,
    table: {
      columns: ['Blob', 'Unpacker', 'Blob MB', 'Median MB/s', 'Best MB/s', 'Median wall s', 'Median user s', 'Median sys s', 'vs TS'],
      rows,
    },
    notes: [
      `Input: the ${corpus.gzip.length} layers of crion-test/big, ${formatNumber(uncompressedBytes / MB)} MB of tar in ${entries} entries ` +
        '(half 4 MiB random files, half 16 KiB text files); the zstd blobs are the same tars at zstd level 3. ' +
        "MB/s is uncompressed tar bytes (10^6) per wall second; each crion unpack is checked against the layer's diffID.",
      "Layers are unpacked one after another, each into a fresh directory on the work directory's filesystem; " +
        "every run's files are kept until the benchmark ends, since a removal just before a run makes ext4 without a journal " +
        'scan past the freed inodes on every file it creates. ' +
        'Blobs are read once beforehand (page cache warm: unpacking, not the disk, is measured); `sync` runs before each timed ' +
        'run and the page cache is not dropped, so written files stay in memory as during a pull.',
      'User and sys s are the CPU time of the whole process (all threads): their sum against wall time shows the parallelism ' +
        "each unpacker gets, and sys shows the kernel's share (creating files, writing), which no unpacker can avoid.",
      'GNU tar (`tar -x --gzip|--zstd`, decompressing in a second process, hashing nothing) is not part of the target: ' +
        "it shows what the host's filesystem costs any unpacker.",
      ...(unavailable !== null ? [`Native unpacker unavailable: ${unavailable}`] : []),
    ],
    data: { uncompressedBytes, entries, blobs: { gzip: corpus.gzip, zstd: corpus.zstd }, samples, nativeUnavailable: unavailable },
  };
}
