import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon the directory claim needs, so that tests can pass a fake. */
export type DirectoryLockAddon = Pick<NativeAddon, 'lockDirectory'>;

/** A claim held until `release()` or the end of the process, however it ends. */
export interface DirectoryLock {
  release(): void;
}

/**
 * Claims the existing directory `dir` for this daemon (a flock(2) on
 * `<dir>/crion.lock`, which holds the daemon's PID), without waiting.
 * Throws a {@link NativeError}: `ERR_DIR_LOCK_HELD` when another daemon
 * holds it, its message naming that daemon's PID; `ERR_DIR_LOCK` when the
 * lock file cannot be opened, locked or written.
 */
export function lockDirectory(dir: string, addon: DirectoryLockAddon = loadAddon()): DirectoryLock {
  return callNative(() => addon.lockDirectory(dir));
}
