import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon console sockets need, so that tests can pass a fake. */
export type ConsoleSocketAddon = Pick<NativeAddon, 'bindConsoleSocket'>;

/** The longest wait `receive` accepts: napi takes the timeout as a uint32. */
const MAX_TIMEOUT_MS = 2 ** 32 - 1;

/**
 * A listening unix socket (mode 0600) for `runc exec --tty --console-socket
 * <path>`: runc connects and passes the pty master of the exec with
 * SCM_RIGHTS.
 */
export interface ConsoleSocket {
  /** The socket's path, to pass to runc. */
  readonly path: string;
  /**
   * Accepts one connection and resolves with the descriptor it passed: the
   * pty master, close-on-exec, now owned by the caller, who must close it.
   * The wait runs on a native thread of its own. Wrap the master in one
   * `new tty.ReadStream(fd)`, which both reads and writes it (its
   * `writable` is true) and closes the fd when destroyed, or by itself once
   * the other side of the pty is closed and the output read (it emits
   * 'end', then 'close'). Checked on Node 20 in
   * `__test__/native/console-socket.test.ts`. Not `net.Socket({ fd })`,
   * which throws `ERR_INVALID_FD_TYPE` for a TTY, and not a
   * `tty.WriteStream` beside the ReadStream: each would close the fd.
   *
   * Rejects with a {@link NativeError}: `ERR_CONSOLE_SOCKET_TIMEOUT` when
   * nothing arrived within `timeoutMs`, `ERR_CONSOLE_SOCKET_NO_DESCRIPTOR`
   * when a connection closed without one, `ERR_CONSOLE_SOCKET_CLOSED` when
   * {@link close} came first or during the wait, `ERR_CONSOLE_SOCKET`.
   */
  receive(timeoutMs: number): Promise<number>;
  /**
   * Removes the socket file and ends a pending `receive` with
   * `ERR_CONSOLE_SOCKET_CLOSED`. Closing twice is fine; a received master
   * is not affected.
   */
  close(): void;
}

/**
 * Binds a console socket at `path` (at most 107 bytes), replacing a socket
 * file a killed daemon left there; any other file there is an error. Throws
 * a {@link NativeError}: `ERR_CONSOLE_SOCKET_PATH_TOO_LONG`,
 * `ERR_CONSOLE_SOCKET` (naming the path).
 */
export function bindConsoleSocket(path: string, addon: ConsoleSocketAddon = loadAddon()): ConsoleSocket {
  const socket = callNative(() => addon.bindConsoleSocket(path));
  return {
    path: socket.path,
    async receive(timeoutMs: number): Promise<number> {
      if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
        throw new RangeError(`a console socket timeout must be an integer from 0 to ${MAX_TIMEOUT_MS} ms, not ${String(timeoutMs)}`);
      }
      return await callNative(() => socket.receive(timeoutMs));
    },
    close(): void {
      callNative(() => socket.close());
    },
  };
}
