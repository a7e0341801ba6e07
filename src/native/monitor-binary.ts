import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { platformDirs } from './platform-package.js';

/** Overrides where the daemon finds crion-monitor, as CRION_NATIVE_ADDON does for the addon. */
export const MONITOR_PATH_ENV = 'CRION_MONITOR';

/**
 * The per-container monitor ships beside the addon: in the checkout's
 * npm/linux-x64-gnu/ or in the installed platform package. Throws naming
 * every place it looked, as the addon loader does. `root` is crion's package
 * root; tests point it at a package tree of their own.
 */
export function monitorBinary(root?: string): string {
  const override = process.env[MONITOR_PATH_ENV];
  const candidates = override !== undefined && override !== '' ? [override] : platformDirs(root).map((dir) => path.join(dir, 'crion-monitor'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Try the next place.
    }
  }
  throw new Error(`crion-monitor not found or not executable; looked at: ${candidates.join(', ')} (run npm run build:native, or install @crion/linux-x64-gnu)`);
}
