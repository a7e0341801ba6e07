import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../package-info.js';

/** Overrides where the daemon finds crion-monitor, as CRION_NATIVE_ADDON does for the addon. */
export const MONITOR_PATH_ENV = 'CRION_MONITOR';

/**
 * The per-container monitor ships beside the addon (`npm run build:native`
 * installs both into npm/linux-x64-gnu/). Throws naming every place it
 * looked, as the addon loader does.
 */
export function monitorBinary(): string {
  const override = process.env[MONITOR_PATH_ENV];
  const candidates =
    override !== undefined && override !== ''
      ? [override]
      : [path.join(packageRoot, 'npm', 'linux-x64-gnu', 'crion-monitor')];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Try the next place.
    }
  }
  throw new Error(`crion-monitor not found or not executable; looked at: ${candidates.join(', ')} (run npm run build:native)`);
}
