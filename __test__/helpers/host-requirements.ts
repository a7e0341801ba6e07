/**
 * Tests that need something of the host (root, an installed program, a kernel
 * feature) are registered through `testNeeding`: on a host that lacks it they
 * are registered with ava's `test.skip`, so ava counts and lists them as
 * skipped, never as passed, with the reason in the title. `scripts/test.sh`
 * fails a CI run as root that skipped anything.
 */

import test, { type Implementation } from 'ava';
import { spawnSync } from 'node:child_process';

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

type Register = (title: string, implementation: Implementation<[]>) => void;

/**
 * ava's `test` when nothing is missing; otherwise a function that registers
 * with `test.skip` and the first missing requirement appended to the title.
 */
export function testNeeding(...requirements: Missing[]): Register {
  const missing = requirements.find((requirement): requirement is string => requirement !== null);
  if (missing === undefined) return (title, implementation) => test(title, implementation);
  return (title, implementation) => test.skip(`${title} [skipped: ${missing}]`, implementation);
}
