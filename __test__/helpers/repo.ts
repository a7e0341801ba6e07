import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout's root. Tests run compiled from dist/__test__/, so a fixed
 * relative path would differ between source and output; walk up instead.
 */
export const repoRoot: string = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

export const crionBin: string = path.join(repoRoot, 'bin', 'crion.js');

export const packageVersion: string = (
  JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'crion') return dir;
    } catch {
      // No readable package.json at this level; keep walking up.
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find crion's package.json above ${start}`);
  }
}

/** Reads a tool path the test runner exports, failing with a hint instead of a spawn ENOENT. */
export function toolFromEnv(name: 'CRION_CRICTL' | 'CRION_CRITEST'): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run the suite with \`npm test\` or export it (see scripts/cri-tools.sh path)`);
  }
  return value;
}
