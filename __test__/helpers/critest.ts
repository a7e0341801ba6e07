import type { Daemon } from './daemon.js';
import { run } from './process.js';
import { toolFromEnv } from './repo.js';

export interface CritestResult {
  code: number | null;
  /** stdout and stderr together, as a person reading CI logs wants them. */
  output: string;
  /** From ginkgo's `Ran N of M Specs` line; null when it never got that far. */
  ran: number | null;
  total: number | null;
  /**
   * From ginkgo's `N Passed | N Failed | N Pending | N Skipped` line; null when it never got that far.
   * `skipped` counts the specs the focus left out and those that called Skip() while running (a spec
   * that finds the runtime lacking a feature), which ginkgo's SUCCESS! does not tell apart.
   */
  passed: number | null;
  skipped: number | null;
  /** ginkgo printed its `SUCCESS!` summary. */
  succeeded: boolean;
  /** Specs the focus picked that called Skip() while running, with the reason they gave; needs `--ginkgo.v` output. */
  selfSkipped: Array<{ spec: string; reason: string }>;
}

export interface CritestOptions {
  /** ginkgo regexp over the full spec text (`[k8s.io] <Describe> <Context> <It>`). */
  focus: string;
  skip?: string;
  extraArgs?: readonly string[];
  timeoutMs?: number;
}

/** Runs the real critest (cri-tools' validation suite) against the daemon's socket. */
export async function critest(daemon: Daemon, options: CritestOptions): Promise<CritestResult> {
  const args = [
    `--runtime-endpoint=${daemon.endpoint}`,
    `--image-endpoint=${daemon.endpoint}`,
    `--ginkgo.focus=${options.focus}`,
    // An empty skip regexp matches every spec: a caller with nothing left to skip would run none.
    ...(options.skip ? [`--ginkgo.skip=${options.skip}`] : []),
    '--ginkgo.no-color',
    // Spec names and durations in the output, so a CI log shows what ran.
    '--ginkgo.v',
    ...(options.extraArgs ?? []),
  ];
  const result = await run(toolFromEnv('CRION_CRITEST'), args, { timeoutMs: options.timeoutMs ?? 300_000, cwd: daemon.dir });
  const output = `${result.stdout}${result.stderr}`;
  const ranMatch = /Ran (\d+) of (\d+) Specs?/.exec(output);
  const countsMatch = /(\d+) Passed \| \d+ Failed \| \d+ Pending \| (\d+) Skipped/.exec(output);
  return {
    code: result.code,
    output,
    ran: ranMatch ? Number(ranMatch[1]) : null,
    total: ranMatch ? Number(ranMatch[2]) : null,
    passed: countsMatch ? Number(countsMatch[1]) : null,
    skipped: countsMatch ? Number(countsMatch[2]) : null,
    succeeded: /^SUCCESS!/m.test(output),
    selfSkipped: selfSkippedSpecs(output),
  };
}

/**
 * ginkgo's verbose report gives each spec that ran a block after a rule of
 * dashes: its full text, its source line, and for one that skipped itself
 * `S [SKIPPED]` and the reason. Specs the focus left out are only `S`s.
 */
function selfSkippedSpecs(output: string): Array<{ spec: string; reason: string }> {
  const skipped = [];
  for (const block of output.split(/^-{30}$/m)) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    const spec = lines[0];
    if (spec === undefined || !/^S \[SKIPPED\]/m.test(block)) continue;
    const reason = /^\s+\[SKIPPED\] (?!in \[)(.*)$/m.exec(block)?.[1] ?? 'no reason given';
    skipped.push({ spec, reason });
  }
  return skipped;
}
