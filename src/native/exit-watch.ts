import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon exit watching needs, so that tests can pass a fake. */
export type ExitWatchAddon = Pick<NativeAddon, 'watchExit' | 'pidAlive'>;

const MAX_PID = 2 ** 31 - 1;

/**
 * Resolves once process `pid` has exited, whoever its parent is (the
 * container monitors are not the daemon's children), at once for a zombie.
 * One native thread waits on the pidfds of every watch. A pending watch
 * keeps Node's event loop alive, as a child process does. Rejects with a
 * {@link NativeError}: `ERR_EXIT_WATCH_NO_PROCESS` when the process is
 * already gone (reaped, or never was), `ERR_EXIT_WATCH_INVALID_PID`,
 * `ERR_EXIT_WATCH_PIDFD`, `ERR_EXIT_WATCH_WATCHER`.
 */
export async function watchExit(pid: number, addon: ExitWatchAddon = loadAddon()): Promise<void> {
  checkPid(pid);
  await callNative(() => addon.watchExit(pid));
}

/**
 * Whether `pid` is a running process: false once it has exited, zombie or
 * reaped. Throws a {@link NativeError} only for an invalid pid or a pidfd
 * failure other than "no such process".
 */
export function pidAlive(pid: number, addon: ExitWatchAddon = loadAddon()): boolean {
  checkPid(pid);
  return callNative(() => addon.pidAlive(pid));
}

/** napi would truncate a fraction and wrap a value past int32 without a word. */
function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid > MAX_PID) {
    throw new RangeError(`a pid must be an integer up to ${MAX_PID}, not ${String(pid)}`);
  }
}
