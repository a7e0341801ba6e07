import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../package-info.js';

/**
 * The npm package that carries the addon and crion-monitor for this
 * platform, as @napi-rs/cli lays it out: crion names it in
 * `optionalDependencies`, and the checkout's `npm/linux-x64-gnu/` is the
 * same package as an npm workspace.
 */
export const PLATFORM_PACKAGE = '@crion/linux-x64-gnu';

/**
 * Where this platform's native files may be, in order: the checkout's own
 * `npm/linux-x64-gnu/` (where `npm run build:native` writes), then the
 * platform package as Node's module resolution finds it from crion's own
 * package: below it when npm installed the optional dependency, beside it
 * when `npm i -g` of both tarballs left them side by side in the prefix.
 */
export function platformDirs(root: string = packageRoot): string[] {
  const dirs = [path.join(root, 'npm', 'linux-x64-gnu')];
  try {
    const manifest = createRequire(path.join(root, 'package.json')).resolve(`${PLATFORM_PACKAGE}/package.json`);
    dirs.push(path.dirname(manifest));
  } catch {
    // Not installed: a checkout has only its own build.
  }
  // In a checkout the workspace link resolves to the build directory itself.
  return [...new Set(dirs)];
}
