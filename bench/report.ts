import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * What every benchmark hands back and how a run is written down: one JSON
 * document for tools and one Markdown page for people, both saying for
 * each benchmark what it aimed at and whether this run got there.
 */

/**
 * `not measured`: the benchmark ran, but something it compares is not there yet (it says what).
 * `reported`: the figure has no target yet; it is recorded so that runs can be compared.
 */
export type Verdict = 'met' | 'not met' | 'not measured' | 'reported';

export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/**
 * One row of the goals: crion's figure against containerd's from the same run, the ratio and the
 * highest ratio that meets it. A ratio that could not be computed (a side missing) does not meet it.
 */
export interface Goal {
  readonly name: string;
  readonly unit: string;
  readonly crion: number;
  readonly containerd: number;
  readonly ratio: number;
  readonly target: number;
  readonly met: boolean;
}

export function ratioGoal(name: string, unit: string, crion: number, containerd: number, target: number): Goal {
  const ratio = crion / containerd;
  return { name, unit, crion, containerd, ratio, target, met: ratio <= target };
}

/**
 * The verdict, met only when every goal is, and a summary such as `1 of 3 goals met (0.42× to 0.81×
 * containerd's)`; the goal table has each.
 */
export function goalsOutcome(goals: readonly Goal[]): Pick<Outcome, 'verdict' | 'goals' | 'summary'> {
  const ratios = goals.map((goal) => goal.ratio);
  const range = `${formatNumber(Math.min(...ratios), 2)}× to ${formatNumber(Math.max(...ratios), 2)}×`;
  return {
    verdict: goals.every((goal) => goal.met) ? 'met' : 'not met',
    goals,
    summary: `${goals.filter((goal) => goal.met).length} of ${goals.length} goals met (${range} containerd's)`,
  };
}

export interface Outcome {
  readonly verdict: Verdict;
  /** The goal rows this benchmark measures, each with its own verdict; rendered before the table. */
  readonly goals?: readonly Goal[];
  /** One line: the measured figure set against the target. */
  readonly summary: string;
  readonly table: Table;
  /** How it was measured and anything a reader needs to trust the numbers. */
  readonly notes: readonly string[];
  /** Every sample and setting, for the JSON. */
  readonly data: unknown;
}

export interface BenchContext {
  /** Timed repetitions of each measured case. */
  readonly runs: number;
  /** Holds every temporary file and directory of the run; removed at exit. */
  readonly workDir: string;
  /** Survives runs: the generated image and its zstd blobs. */
  readonly cacheDir: string;
  progress(message: string): void;
}

export interface Benchmark {
  readonly id: string;
  readonly title: string;
  readonly target: string;
  run(context: BenchContext): Promise<Outcome>;
}

export type BenchmarkResult =
  | ({ readonly id: string; readonly title: string; readonly target: string; readonly status: Verdict } & Omit<Outcome, 'verdict'>)
  | { readonly id: string; readonly title: string; readonly target: string; readonly status: 'broken'; readonly error: string };

export interface Report {
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly runs: number;
  /** The 1-minute load average when the run started and ended: other work on the machine skews every figure. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly host: HostInfo;
  readonly benchmarks: readonly BenchmarkResult[];
}

export interface HostInfo {
  readonly commit: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
}

export function hostInfo(repoRoot: string): HostInfo {
  return {
    commit: gitDescription(repoRoot),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    kernel: os.release(),
    node: process.version,
  };
}

/** The commit, marked dirty when the tree has changes: numbers from uncommitted code must say so. */
function gitDescription(repoRoot: string): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export async function writeReport(report: Report, directory: string): Promise<{ json: string; markdown: string }> {
  await mkdir(directory, { recursive: true });
  const json = path.join(directory, 'latest.json');
  const markdown = path.join(directory, 'latest.md');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(markdown, renderMarkdown(report));
  return { json, markdown };
}

export function renderMarkdown(report: Report): string {
  const { host } = report;
  const lines = [
    '# crion benchmarks',
    '',
    `${report.startedAt}, commit ${host.commit}; runs per case: ${report.runs}; ${report.durationSeconds.toFixed(0)} s in all.`,
    `Host: ${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB, Linux ${host.kernel}, Node ${host.node}; ` +
      `1-minute load average ${report.loadAverage.start.toFixed(2)} at the start, ${report.loadAverage.end.toFixed(2)} at the end.`,
  ];
  const goals = report.benchmarks.flatMap((result) => (result.status === 'broken' ? [] : (result.goals ?? [])));
  if (goals.length > 0) lines.push('', '## Goals', '', ...renderTable(goalTable(goals)));
  for (const result of report.benchmarks) {
    lines.push('', `## ${result.title}`, '', `Target: ${result.target}.`, '');
    if (result.status === 'broken') {
      lines.push('**BROKEN**: the benchmark could not run.', '', '```', result.error, '```');
      continue;
    }
    lines.push(`**${result.status.toUpperCase()}**: ${result.summary}`, '');
    if (result.goals !== undefined && result.goals.length > 0) lines.push(...renderTable(goalTable(result.goals)), '');
    lines.push(...renderTable(result.table), '');
    lines.push(...result.notes.map((note) => `- ${note}`));
  }
  return `${lines.join('\n')}\n`;
}

function goalTable(goals: readonly Goal[]): Table {
  return {
    columns: ['Goal', 'crion', 'containerd', 'Ratio', 'Target', 'Verdict'],
    rows: goals.map((goal) => [
      goal.name,
      `${formatNumber(goal.crion)} ${goal.unit}`,
      `${formatNumber(goal.containerd)} ${goal.unit}`,
      `${formatNumber(goal.ratio, 2)}×`,
      `≤ ${goal.target}×`,
      goal.met ? 'MET' : 'NOT MET',
    ]),
  };
}

function renderTable(table: Table): string[] {
  const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [row(table.columns), row(table.columns.map(() => '---')), ...table.rows.map(row)];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function formatNumber(value: number, digits = 1): string {
  return value.toFixed(digits);
}

/** Nearest-rank percentile (`p` in 0-100): a value that was measured, as the median of an odd count is. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
