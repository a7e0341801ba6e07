import type { PodNamespaces, PodNamespacesRequest } from './addon.js';
import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

export type { PodNamespaces, PodNamespacesRequest } from './addon.js';

/** The part of the addon pod namespaces need, so that tests can pass a fake. */
export type PodNamespacesAddon = Pick<
  NativeAddon,
  'createPodNamespaces' | 'removePodNamespaces' | 'preparePrivateMountDir'
>;

/**
 * Makes a pod's network, IPC and UTS namespaces (those asked for), sets the
 * hostname and namespaced sysctls inside them, brings up `lo`, and pins each
 * to `<dir>/net|ipc|uts`, where containers and CNI join them. The work runs
 * on a native thread made for it, never on a Node thread. Rejects with a
 * {@link NativeError}: `ERR_POD_NS_INVALID` for a hostname or sysctl that
 * would reach the host or is malformed, `ERR_POD_NS_PIN` when a pin file is
 * already there, `ERR_POD_NS_SYSCTL`, `ERR_POD_NS_HOSTNAME`,
 * `ERR_POD_NS_LOOPBACK`, `ERR_POD_NS_UNSHARE`, `ERR_POD_NS_THREAD`; after a
 * rejection nothing it made is left.
 */
export async function createPodNamespaces(
  request: PodNamespacesRequest,
  addon: PodNamespacesAddon = loadAddon(),
): Promise<PodNamespaces> {
  return await callNative(() => addon.createPodNamespaces(request));
}

/**
 * Unmounts and deletes the pins in `dir`, leaving `dir` itself. Succeeds
 * when they are already gone, so StopPodSandbox and RemovePodSandbox can
 * both call it. Rejects with `ERR_POD_NS_UNPIN`.
 */
export async function removePodNamespaces(dir: string, addon: PodNamespacesAddon = loadAddon()): Promise<void> {
  await callNative(() => addon.removePodNamespaces(dir));
}

/**
 * Makes `dir` (created if missing) a private mount point, once per boot, so
 * that the pins mounted below it do not propagate into other mount
 * namespaces. A no-op when it already is one. Rejects with
 * `ERR_POD_NS_MOUNT_DIR`.
 */
export async function preparePrivateMountDir(dir: string, addon: PodNamespacesAddon = loadAddon()): Promise<void> {
  await callNative(() => addon.preparePrivateMountDir(dir));
}
