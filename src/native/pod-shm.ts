import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

/** The part of the addon a pod's /dev/shm needs, so that tests can pass a fake. */
export type PodShmAddon = Pick<NativeAddon, 'mountPodShm' | 'unmountPodShm'>;

/**
 * Mounts a tmpfs of `sizeBytes` (mode 1777, nosuid, nodev, noexec) on the
 * existing directory `target`, with one mount(2) on libuv's pool rather
 * than a mount(8) process. Rejects with a {@link NativeError} whose code is
 * `ERR_POD_SHM_MOUNT`, naming the target.
 */
export async function mountPodShm(target: string, sizeBytes: number, addon: PodShmAddon = loadAddon()): Promise<void> {
  await callNative(() => addon.mountPodShm(target, sizeBytes));
}

/**
 * Unmounts the pod's /dev/shm, detached if still in use. Nothing mounted,
 * or no such path, succeeds, so stopping and removing a pod can both call
 * it. Rejects with `ERR_POD_SHM_UNMOUNT`.
 */
export async function unmountPodShm(target: string, addon: PodShmAddon = loadAddon()): Promise<void> {
  await callNative(() => addon.unmountPodShm(target));
}
