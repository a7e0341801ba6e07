import { LayerUnpackError, type LayerRejection } from '../image/unpack/layer-unpack-error.js';
import type { LayerUnpacker } from '../image/unpack/layer-unpacker.js';
import type { LayerUnpackRequest, LayerUnpackResult } from './addon.js';
import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative, rebuildNativeError } from './native-error.js';

export type { LayerCompression, LayerUnpackRequest, LayerUnpackResult } from './addon.js';

/** The part of the addon the unpacker needs, so that tests can pass a fake. */
export type UnpackLayerAddon = Pick<NativeAddon, 'unpackLayer' | 'CancelToken'>;

/** The addon's codes for a bad layer; every other code is the host's failure. */
const REJECTIONS: ReadonlyMap<string, LayerRejection> = new Map([
  ['ERR_UNPACK_PATH_ESCAPE', 'path-escape'],
  ['ERR_UNPACK_TOO_LARGE', 'too-large'],
  ['ERR_UNPACK_CORRUPT', 'corrupt'],
  ['ERR_UNPACK_UNSUPPORTED_ENTRY', 'unsupported-entry'],
]);

/**
 * Decompresses and unpacks a layer blob into `destination` (an existing,
 * empty directory) in one streaming pass, on a native thread of its own, and
 * reports the blob's digest, the diffID and the sizes. The rules are those of
 * `crion_core::layer_unpack` and the TypeScript fallback alike.
 *
 * A bad layer rejects with a {@link LayerUnpackError} (`path-escape`,
 * `too-large`, `corrupt`, `unsupported-entry`); a host failure (I/O, with the
 * path in the message) with a {@link NativeError}; an abort through `signal`
 * with the signal's reason, once the native thread has stopped. Whichever,
 * the destination may be partly written and the caller removes it.
 */
export async function unpackLayerNative(
  request: LayerUnpackRequest,
  addon: UnpackLayerAddon = loadAddon(),
  signal?: AbortSignal,
): Promise<LayerUnpackResult> {
  // napi would truncate a fraction and clamp a huge value without a word.
  if (!Number.isSafeInteger(request.maxUncompressedBytes) || request.maxUncompressedBytes < 0) {
    throw new RangeError(
      `maxUncompressedBytes must be a non-negative safe integer, not ${String(request.maxUncompressedBytes)}`,
    );
  }
  signal?.throwIfAborted();
  const cancel = signal === undefined ? undefined : new addon.CancelToken();
  const onAbort = (): void => cancel?.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await callNative(
      () => addon.unpackLayer(request, cancel),
      (error) => (signal?.aborted === true && codeOf(error) === 'ERR_UNPACK_CANCELLED' ? signal.reason : rebuildUnpackError(error)),
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The native unpacker in the shape the puller takes
 * (`src/image/unpack/layer-unpacker.ts`); loads the addon now, so that a
 * daemon configured for it fails at start rather than at the first pull.
 */
export function nativeLayerUnpacker(addon: UnpackLayerAddon = loadAddon()): LayerUnpacker {
  return (request, signal) => unpackLayerNative(request, addon, signal);
}

function codeOf(error: unknown): unknown {
  return error instanceof Error ? (error as { code?: unknown }).code : undefined;
}

function rebuildUnpackError(error: unknown): unknown {
  const code = codeOf(error);
  const rejection = typeof code === 'string' ? REJECTIONS.get(code) : undefined;
  if (rejection === undefined) return rebuildNativeError(error);
  return new LayerUnpackError(rejection, (error as Error).message, { cause: error });
}
