import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * What an OCI runtime says of its own version (`runc --version`: version,
 * commit, spec, go and libseccomp lines), for an operator comparing nodes.
 * Asked each time, not at start: the binary may be upgraded under a running daemon.
 */

export type RuntimeVersion = { readonly version: string; readonly error: null } | { readonly version: null; readonly error: string };

const run = promisify(execFile);
/** `runc --version` answers at once; a runtime that hangs must not hold up `crion status`. */
const VERSION_TIMEOUT_MS = 5_000;

export async function runtimeVersion(binary: string): Promise<RuntimeVersion> {
  try {
    return { version: (await run(binary, ['--version'], { timeout: VERSION_TIMEOUT_MS })).stdout.trim(), error: null };
  } catch (error) {
    const failure = error as Error & { stderr?: string; killed?: boolean };
    const cause = failure.killed ? `no answer in ${VERSION_TIMEOUT_MS / 1000} s` : (failure.stderr?.trim() || failure.message).split('\n')[0]!;
    return { version: null, error: `\`${binary} --version\` failed: ${cause}` };
  }
}
