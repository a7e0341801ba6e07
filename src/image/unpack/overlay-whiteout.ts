import { LayerUnpackError } from './layer-unpack-error.js';
import { display } from './entry-path.js';
import type { ByteString } from './tar-reader.js';

/**
 * OCI layers mark deletions with AUFS-style names; overlayfs, which crion
 * mounts layers with, wants its own marks instead. `dir/.wh.NAME` deletes
 * `dir/NAME` and becomes a 0:0 character device there; `dir/.wh..wh..opq`
 * hides everything below `dir` from lower layers and becomes the
 * `trusted.overlay.opaque=y` xattr on `dir`. Other `.wh..wh.` names are
 * AUFS bookkeeping that overlayfs has no use for.
 */

export type Whiteout = { kind: 'none' } | { kind: 'skip' } | { kind: 'delete'; path: ByteString } | { kind: 'opaque'; directory: ByteString };

const PREFIX = '.wh.';
const META_PREFIX = '.wh..wh.';
const OPAQUE = '.wh..wh..opq';

/** overlayfs's own metadata (opaque, redirect, metacopy): a layer sets it only through whiteout names. */
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';
export const OPAQUE_XATTR = `${OVERLAY_XATTR_PREFIX}opaque`;

/** Classifies a path already confined by `confinedPath`. */
export function whiteoutOf(path: ByteString): Whiteout {
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  if (!base.startsWith(PREFIX)) return { kind: 'none' };
  const directory = slash < 0 ? '' : path.slice(0, slash);
  if (base === OPAQUE) return { kind: 'opaque', directory };
  if (base.startsWith(META_PREFIX)) return { kind: 'skip' };
  const name = base.slice(PREFIX.length);
  if (name === '..') throw new LayerUnpackError('path-escape', `whiteout ${display(path)} whites out ".."`);
  if (name === '' || name === '.') throw new LayerUnpackError('corrupt', `whiteout ${display(path)} names no entry`);
  return { kind: 'delete', path: directory === '' ? name : `${directory}/${name}` };
}
