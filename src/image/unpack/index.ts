import { nativeLayerUnpacker } from '../../native/index.js';
import { unpackLayerJs } from './js-layer-unpacker.js';
import type { LayerUnpacker } from './layer-unpacker.js';

/**
 * Layer unpacking as the rest of crion sees it: the shared contract, its
 * error, and the choice between the two implementations that
 * `image.unpack` makes.
 */

export { unpackLayerJs } from './js-layer-unpacker.js';
export { LayerUnpackError, type LayerRejection } from './layer-unpack-error.js';
export type { LayerCompression, LayerUnpackRequest, LayerUnpackResult, LayerUnpacker } from './layer-unpacker.js';

/**
 * The unpacker `image.unpack` names. Choosing the native one loads the
 * addon now, so a daemon that cannot load it fails at start, not at its
 * first pull.
 */
export function selectLayerUnpacker(kind: 'native' | 'js'): LayerUnpacker {
  return kind === 'native' ? nativeLayerUnpacker() : unpackLayerJs;
}
