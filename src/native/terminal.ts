import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon terminals need, so that tests can pass a fake. */
export type TerminalAddon = Pick<NativeAddon, 'openPty' | 'setWindowSize'>;

const MAX_DIMENSION = 2 ** 16 - 1;

/** Both ends of a pty, as descriptor numbers: close-on-exec, neither the daemon's controlling terminal, the caller's to close. */
export interface PtyPair {
  readonly master: number;
  readonly slave: number;
}

function checkDimensions(rows: number, cols: number): void {
  for (const [name, value] of [
    ['rows', rows],
    ['cols', cols],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_DIMENSION) {
      throw new RangeError(`${name} must be an integer from 0 to ${MAX_DIMENSION}, not ${String(value)}`);
    }
  }
}

/**
 * Opens a new pseudo-terminal whose window is `rows` by `cols` from the
 * start. The slave goes to a child's stdio (`spawn`'s stdio array takes the
 * number) and is closed in the daemon right after; the master is wrapped in
 * one `new tty.ReadStream(fd)`, which both reads and writes it and closes it
 * when destroyed, or by itself once every holder of the slave has closed it
 * and the output is read ('end', then 'close'). Throws a
 * {@link NativeError} `ERR_TERMINAL_OPEN`; a RangeError for a size outside
 * 0..65535.
 */
export function openPty(rows: number, cols: number, addon: TerminalAddon = loadAddon()): PtyPair {
  checkDimensions(rows, cols);
  return callNative(() => addon.openPty(rows, cols));
}

/**
 * Sets the window size of the terminal `fd` (a pty master from
 * {@link openPty}) to `rows` by `cols`, as CRI's resize
 * channel asks; the kernel sends SIGWINCH to the slave's foreground process group, if it has one.
 * One ioctl(2) on the calling thread. `fd` stays the caller's: pass the
 * number the tty stream wraps while the stream is open. Throws a
 * {@link NativeError}: `ERR_TERMINAL_NOT_A_TTY`, `ERR_TERMINAL_BAD_FD` (not
 * open), `ERR_TERMINAL_WINDOW_SIZE`; a RangeError for a size outside 0..65535.
 */
export function setWindowSize(fd: number, rows: number, cols: number, addon: TerminalAddon = loadAddon()): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) throw new RangeError(`not a file descriptor: ${String(fd)}`);
  checkDimensions(rows, cols);
  callNative(() => addon.setWindowSize(fd, rows, cols));
}
