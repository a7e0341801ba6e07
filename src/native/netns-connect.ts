import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon port-forward needs, so that tests can pass a fake. */
export type NetnsConnectAddon = Pick<NativeAddon, 'connectInNetns'>;

/**
 * How long a connect may take by default. A server on localhost accepts or
 * refuses at once; only one whose accept queue is full lets a connect wait.
 */
export const NETNS_CONNECT_TIMEOUT_MS = 10_000;

const MAX_TIMEOUT_MS = 2 ** 32 - 1;

/**
 * Connects to localhost:`port` inside a pod's network namespace, as
 * port-forward does: 127.0.0.1 first, then ::1 (containerd dials tcp4, then
 * tcp6). `netnsPath` is the namespace's pin file (`PodNamespaces.net`);
 * null connects in the daemon's own namespace, for a pod on the host
 * network. A native thread joins the namespace for the connect; no Node
 * thread ever changes namespace, and each call has threads of its own, so
 * many may be pending at once.
 *
 * Resolves with the connected TCP socket's descriptor, non-blocking and
 * close-on-exec, now owned by the caller. Wrap it with
 * `new net.Socket({ fd, readable: true, writable: true })` (without both
 * flags Node opens a socket from an fd neither readable nor writable); the
 * Socket then owns the fd and `destroy()` closes it. Checked in
 * `__test__/native/netns-connect.test.ts`.
 *
 * Rejects with a {@link NativeError} whose message names the port and the
 * namespace: `ERR_NETNS_CONNECT_REFUSED` when nothing listens on either
 * address (CRI callers word it as containerd does: `failed to connect to
 * localhost:PORT inside namespace of pod ID`), `ERR_NETNS_CONNECT_TIMEOUT`,
 * `ERR_NETNS_CONNECT` (another failure, both addresses' errors given),
 * `ERR_NETNS_CONNECT_NETNS` (the file cannot be opened or is no network
 * namespace), `ERR_NETNS_CONNECT_THREAD`; a RangeError for a port outside
 * 1..65535.
 */
export async function connectInNetns(
  netnsPath: string | null,
  port: number,
  timeoutMs: number = NETNS_CONNECT_TIMEOUT_MS,
  addon: NetnsConnectAddon = loadAddon(),
): Promise<number> {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RangeError(`a TCP port must be an integer from 1 to 65535, not ${String(port)}`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(`a connect timeout must be an integer from 0 to ${MAX_TIMEOUT_MS} ms, not ${String(timeoutMs)}`);
  }
  return await callNative(() => addon.connectInNetns(netnsPath, port, timeoutMs));
}
