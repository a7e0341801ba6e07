import { spawn } from 'node:child_process';

/**
 * Reads Prometheus text exposition with the reference parser, Python's
 * prometheus_client (Debian's python3-prometheus-client, installed by
 * scripts/setup.sh), so a test asserts on what a real scraper reads and a
 * malformed exposition fails the test instead of being read leniently.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: readonly Sample[];
}

/** Debian's package installs for Debian's interpreter; a python3 earlier on PATH (pyenv) would not find it. */
const DEBIAN_PYTHON = '/usr/bin/python3';

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    samples = [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in family.samples]
    families.append({"name": family.name, "type": family.type, "help": family.documentation, "samples": samples})
json.dump(families, sys.stdout)
`;

export async function parsePrometheusText(text: string): Promise<Scrape> {
  const child = spawn(DEBIAN_PYTHON, ['-c', PARSE], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(text);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`prometheus_client refused the exposition: ${Buffer.concat(stderr).toString()}`);
  return new Scrape(JSON.parse(Buffer.concat(stdout).toString()) as MetricFamily[]);
}

/** One parsed scrape, looked up by sample name and labels. */
export class Scrape {
  constructor(readonly families: readonly MetricFamily[]) {}

  family(name: string): MetricFamily | undefined {
    return this.families.find((family) => family.name === name);
  }

  /** The sample with exactly this name whose labels include `labels`; 0 when there is none (a label set not yet seen). */
  value(sampleName: string, labels: Record<string, string> = {}): number {
    const matches = this.families
      .flatMap((family) => family.samples)
      .filter((sample) => sample.name === sampleName && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
    if (matches.length > 1) throw new Error(`${sampleName} ${JSON.stringify(labels)} matches ${matches.length} samples`);
    return matches[0]?.value ?? 0;
  }
}
