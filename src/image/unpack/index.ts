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
 * The unpacker `image.unpack` names. The native one is a parameter until
 * `src/native` exports `unpackLayerNative`.
 */
export function selectLayerUnpacker(kind: 'native' | 'js', native: LayerUnpacker): LayerUnpacker {
  return kind === 'native' ? native : unpackLayerJs;
}
