import { execFileSync } from 'node:child_process';
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, type RunResult } from './process.js';
import { repoRoot } from './repo.js';

/**
 * The same crictl binary drives both runtimes, so the client side of a pull
 * costs both the same. It gets an empty config file of its own: a host
 * /etc/crictl.yaml (debug output, other timeouts) must not change the runs.
 */
export class Crictl {
  private constructor(
    readonly binary: string,
    private readonly configFile: string,
  ) {}

  /** `$CRION_CRICTL`, else the pinned build that scripts/cri-tools.sh leaves in its cache. */
  static async find(workDir: string): Promise<Crictl> {
    const binary = await criTool('crictl');
    const configFile = path.join(workDir, 'crictl.yaml');
    await writeFile(configFile, '');
    return new Crictl(binary, configFile);
  }

  run(endpoint: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return run(this.binary, this.argv(endpoint, args), { timeoutMs });
  }

  /** The arguments `run` passes, for a caller that spawns crictl itself (a port-forward that runs until killed). */
  argv(endpoint: string, args: readonly string[]): string[] {
    return ['--config', this.configFile, '--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '10s', ...args];
  }
}

/** `$CRION_CRICTL` / `$CRION_CRITEST`, else the pinned build that scripts/cri-tools.sh leaves in its cache. */
export async function criTool(name: 'crictl' | 'critest'): Promise<string> {
  const variable = `CRION_${name.toUpperCase()}`;
  const binary =
    process.env[variable] ?? path.join(execFileSync('bash', ['scripts/cri-tools.sh', 'path'], { cwd: repoRoot, encoding: 'utf8' }).trim(), name);
  try {
    await access(binary, constants.X_OK);
  } catch {
    throw new Error(`${binary} is missing: build it with \`bash scripts/cri-tools.sh\` or set ${variable}`);
  }
  return binary;
}
