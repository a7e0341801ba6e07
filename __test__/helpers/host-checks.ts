import { spawnSync } from 'node:child_process';

/**
 * What the host has, without ava: helpers that the benchmarks load too
 * (criu.ts through daemon.ts) import these from here, since importing ava
 * outside a test file throws. host-requirements.ts re-exports them.
 */

/** Why the host cannot run a test, or null when it can. */
export type Missing = string | null;

export const isRoot = process.getuid?.() === 0;

/** Root, which mounting, unsharing namespaces and running runc need. */
export const root: Missing = isRoot ? null : `needs root (running as uid ${process.getuid?.() ?? 'unknown'})`;

/** `command` (found on PATH) runs and exits 0 with `args`, e.g. `--version`. */
export function program(command: string, args: readonly string[] = ['--version']): Missing {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  if (result.error !== undefined) return `needs ${command}: ${result.error.message}`;
  if (result.status !== 0) return `needs ${command}: \`${[command, ...args].join(' ')}\` exited ${result.status ?? result.signal}`;
  return null;
}
