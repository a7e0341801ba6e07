import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon terminals need, so that tests can pass a fake. */
export type TerminalAddon = Pick<NativeAddon, 'setWindowSize'>;

const MAX_DIMENSION = 2 ** 16 - 1;

/**
 * Sets the window size of the terminal `fd` (the pty master from
 * {@link ConsoleSocket.receive}) to `rows` by `cols`, as CRI's resize
 * channel asks; the kernel sends SIGWINCH to the process in the terminal.
 * One ioctl(2) on the calling thread. `fd` stays the caller's: pass the
 * number the tty stream wraps while the stream is open. Throws a
 * {@link NativeError}: `ERR_TERMINAL_NOT_A_TTY`, `ERR_TERMINAL_BAD_FD` (not
 * open), `ERR_TERMINAL_WINDOW_SIZE`; a RangeError for a size outside 0..65535.
 */
export function setWindowSize(fd: number, rows: number, cols: number, addon: TerminalAddon = loadAddon()): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) throw new RangeError(`not a file descriptor: ${String(fd)}`);
  for (const [name, value] of [
    ['rows', rows],
    ['cols', cols],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_DIMENSION) {
      throw new RangeError(`${name} must be an integer from 0 to ${MAX_DIMENSION}, not ${String(value)}`);
    }
  }
  callNative(() => addon.setWindowSize(fd, rows, cols));
}
