import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../package-info.js';

/** The npm package that carries the addon and crion-monitor for this platform, as @napi-rs/cli lays it out. */
export const PLATFORM_PACKAGE = 'crion-linux-x64-gnu';

/**
 * Where this platform's native files may be, in order: the checkout's own
 * `npm/linux-x64-gnu/` (where `npm run build:native` writes), then the
 * installed platform package, which npm puts beside or below crion's own
 * (`npm i -g` of both tarballs leaves them side by side in the prefix's
 * node_modules, where Node's module resolution walks up to).
 */
export function platformDirs(root: string = packageRoot): string[] {
  const dirs = [path.join(root, 'npm', 'linux-x64-gnu')];
  try {
    const manifest = createRequire(path.join(root, 'package.json')).resolve(`${PLATFORM_PACKAGE}/package.json`);
    dirs.push(path.dirname(manifest));
  } catch {
    // Not installed: a checkout has only its own build.
  }
  return dirs;
}
