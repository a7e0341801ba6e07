import type { OverlayMountMethod, OverlayMountRequest, OverlayUnmountResult } from './addon.js';
import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

export type { OverlayMountMethod, OverlayMountRequest, OverlayUnmountResult } from './addon.js';

/** The part of the addon overlay mounts need, so that tests can pass a fake. */
export type OverlayMountAddon = Pick<NativeAddon, 'mountOverlay' | 'unmountOverlay'>;

/**
 * Mounts an overlay of `lowerDirs` (topmost first, up to 500) with an upper
 * and work directory, or a read-only view of the layers without them. Uses
 * `lowerdir+` where the kernel has it (6.8) and mount(2) otherwise, and
 * says which. Rejects with a {@link NativeError}: `ERR_OVERLAY_INVALID` for
 * the request itself, `ERR_OVERLAY_OPTIONS_TOO_LONG` when a kernel without
 * `lowerdir+` cannot take that many layers in one page of options,
 * `ERR_OVERLAY_MOUNT` when the kernel refuses (the message names the path).
 */
export async function mountOverlay(
  request: OverlayMountRequest,
  addon: OverlayMountAddon = loadAddon(),
): Promise<OverlayMountMethod> {
  return await callNative(() => addon.mountOverlay(request));
}

/**
 * Unmounts `target`; a mount still in use is detached (`'detached'`) and
 * freed by the kernel once its last user is gone; nothing mounted, or no
 * such path, is `'not-mounted'`, so a retried removal succeeds. Rejects
 * with `ERR_OVERLAY_UNMOUNT`.
 */
export async function unmountOverlay(
  target: string,
  addon: OverlayMountAddon = loadAddon(),
): Promise<OverlayUnmountResult> {
  return await callNative(() => addon.unmountOverlay(target));
}
