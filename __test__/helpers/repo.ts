import path from 'node:path';
import { packageRoot, packageVersion } from '../../src/package-info.js';

/** The checkout's root: the package root, which src/package-info.ts finds from source and from dist/ alike. */
export const repoRoot: string = packageRoot;

export const crionBin: string = path.join(repoRoot, 'bin', 'crion.js');

export { packageVersion };

/** Reads a tool path the test runner exports, failing with a hint instead of a spawn ENOENT. */
export function toolFromEnv(name: 'CRION_CRICTL' | 'CRION_CRITEST'): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run the suite with \`npm test\` or export it (see scripts/cri-tools.sh path)`);
  }
  return value;
}
