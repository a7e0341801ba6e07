/**
 * Tests that need something of the host (root, an installed program, a kernel
 * feature) are registered through `testNeeding`: on a host that lacks it they
 * are registered with ava's `test.skip`, so ava counts and lists them as
 * skipped, never as passed, with the reason in the title. `scripts/test.sh`
 * fails a CI run as root that skipped anything.
 */

import test, { type Implementation } from 'ava';
import type { Missing } from './host-checks.js';

export { isRoot, program, root, type Missing } from './host-checks.js';

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
