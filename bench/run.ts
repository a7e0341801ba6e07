import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../__test__/helpers/repo.js';
import { critestBenchmark } from './critest-benchmark.js';
import { execLatency } from './exec-latency.js';
import { kubeletPodStart } from './kubelet-pod-start.js';
import { daemonRss, monitorMemory, podsAtScale } from './pod-memory.js';
import { podMetrics } from './pod-metrics.js';
import { podStart } from './pod-start.js';
import { podSteps } from './pod-steps.js';
import { portForwardThroughput } from './port-forward-throughput.js';
import { pullVsContainerd } from './pull-vs-containerd.js';
import { unmountUnder } from './mounts.js';
import { hostInfo, renderMarkdown, writeReport, type Benchmark, type BenchmarkResult } from './report.js';
import { unaryCalls } from './unary-calls.js';
import { unpackThroughput } from './unpack-throughput.js';

/**
 * `npm run bench`: runs every benchmark, writes bench/results/latest.{json,md}
 * and prints the Markdown. A missed target is a result, so the exit code is
 * non-zero only when a benchmark could not run at all.
 *
 *   npm run bench -- --runs 5 --only unpack-throughput
 */

const BENCHMARKS: readonly Benchmark[] = [
  unpackThroughput,
  pullVsContainerd,
  podStart,
  podSteps,
  kubeletPodStart,
  critestBenchmark,
  execLatency,
  portForwardThroughput,
  monitorMemory,
  daemonRss,
  // The kubelet's default maxPods, started 10 at a time as issue 15 measures it.
  podsAtScale(110, 10),
  podMetrics,
  unaryCalls,
];

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    only: { type: 'string', multiple: true },
  },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
const unknown = (values.only ?? []).filter((id) => !BENCHMARKS.some((benchmark) => benchmark.id === id));
if (unknown.length > 0) {
  throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.id).join(', ')}`);
}
const selected = BENCHMARKS.filter((benchmark) => values.only?.includes(benchmark.id) ?? true);

// Resolved before TMPDIR moves, so the generated image outlives the run.
const cacheDir = process.env.CRION_TEST_CACHE ?? path.join(os.tmpdir(), 'crion-test-cache');
// Everything temporary, the helpers' daemon and registry directories
// included (they go under os.tmpdir()), lives in one directory that goes
// at exit. The helpers SIGKILL their children on exit; the signals below
// turn Ctrl-C into that exit.
const workDir = mkdtempSync(path.join(os.tmpdir(), 'crion-bench-'));
process.env.TMPDIR = workDir;
process.on('exit', () => {
  try {
    unmountUnder(workDir);
    rmSync(workDir, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    console.error(`bench: could not remove ${workDir}: ${(error as Error).message}`);
  }
});
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => process.exit(code));

const started = Date.now();
const loadAtStart = os.loadavg()[0]!;
const progress = (message: string): void => {
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);
};

const results: BenchmarkResult[] = [];
for (const benchmark of selected) {
  const { id, title, target } = benchmark;
  try {
    const { verdict, ...outcome } = await benchmark.run({ runs, workDir, cacheDir, progress });
    results.push({ id, title, target, status: verdict, ...outcome });
    progress(`${id}: ${verdict}: ${outcome.summary}`);
  } catch (error) {
    // The message carries the cause (a missing tool, a daemon's output); the stack only says where it surfaced.
    const message = error instanceof Error ? error.message : String(error);
    results.push({ id, title, target, status: 'broken', error: message });
    progress(`${id}: broken: ${error instanceof Error ? error.stack : message}`);
  }
}

const report = {
  startedAt: new Date(started).toISOString(),
  durationSeconds: (Date.now() - started) / 1000,
  runs,
  loadAverage: { start: loadAtStart, end: os.loadavg()[0]! },
  host: hostInfo(repoRoot),
  benchmarks: results,
};
const written = await writeReport(report, path.join(repoRoot, 'bench', 'results'));
process.stdout.write(renderMarkdown(report));
progress(`wrote ${path.relative(repoRoot, written.json)} and ${path.relative(repoRoot, written.markdown)}`);
process.exitCode = results.some((result) => result.status === 'broken') ? 1 : 0;
