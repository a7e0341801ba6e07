import path from 'node:path';
import type { Daemon } from './daemon.js';
import { run, type RunResult } from './process.js';
import { toolFromEnv } from './repo.js';

/** Runs the real crictl against the daemon's socket; never throws on a non-zero exit. */
export function crictl(daemon: Daemon, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(
    toolFromEnv('CRION_CRICTL'),
    [
      '--config',
      path.join(daemon.dir, 'crictl.yaml'),
      '--runtime-endpoint',
      daemon.endpoint,
      '--image-endpoint',
      daemon.endpoint,
      '--timeout',
      '30s',
      ...args,
    ],
    { timeoutMs },
  );
}

/**
 * Runs a crictl command with `-o json` right after the subcommand (crictl
 * stops reading flags at the first positional argument) and parses its output, failing with
 * crictl's own stderr when it exits non-zero or prints something that is not JSON.
 */
export async function crictlJson<T = unknown>(daemon: Daemon, args: readonly string[]): Promise<T> {
  const [subcommand, ...rest] = args;
  const result = await crictl(daemon, [...(subcommand === undefined ? [] : [subcommand]), '-o', 'json', ...rest]);
  if (result.code !== 0) {
    throw new Error(`crictl ${args.join(' ')} exited ${result.code}\nstderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  }
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    throw new Error(`crictl ${args.join(' ')} printed invalid JSON (${(error as Error).message}):\n${result.stdout}`, { cause: error });
  }
}
