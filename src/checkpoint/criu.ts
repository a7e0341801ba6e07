import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { FailedPreconditionError } from '../errors.js';

const run = promisify(execFile);

/**
 * Whether the configured CRIU can checkpoint on this kernel. `criu check`
 * is what tells: an old CRIU fails it on newer kernels (Debian 12's 3.17.1:
 * "vdso: Unexpected rt vDSO area bounds"), and no checkpoint can work then.
 * A working CRIU is remembered; a failing one is asked again at the next
 * call (it takes about 0.1 s), so installing one needs no daemon restart.
 */

export type CriuStatus = { readonly available: true; readonly version: string } | { readonly available: false; readonly reason: string };

export class Criu {
  private working: Promise<CriuStatus> | null = null;

  constructor(readonly path: string) {}

  async status(): Promise<CriuStatus> {
    this.working ??= probe(this.path);
    const status = await this.working;
    if (!status.available) this.working = null;
    return status;
  }

  /** The CRIU binary to hand the runtime; FAILED_PRECONDITION naming what is wrong when it cannot checkpoint here. */
  async require(): Promise<string> {
    const status = await this.status();
    if (!status.available) throw new FailedPreconditionError(`checkpoint and restore need a working CRIU: ${status.reason}`);
    return this.path;
  }
}

async function probe(criu: string): Promise<CriuStatus> {
  try {
    const { stdout } = await run(criu, ['--version']);
    await run(criu, ['check'], { timeout: 30_000 });
    return { available: true, version: /Version:\s*(\S+)/.exec(stdout)?.[1] ?? 'unknown' };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') return { available: false, reason: `${criu} was not found (runtime.criu_path)` };
    // The first "Error (…)" line criu prints is the cause; the ones after it say what failed because of it.
    const lines = String(failure.stderr ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    const reason = lines.find((line) => line.startsWith('Error')) ?? lines.at(-1) ?? failure.message;
    return { available: false, reason: `\`${criu} check\` failed: ${reason}` };
  }
}
