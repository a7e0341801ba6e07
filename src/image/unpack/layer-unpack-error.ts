import { InvalidArgumentError } from '../../errors.js';

/**
 * Why a layer was refused. The native and the TypeScript unpackers report
 * the same reasons for the same input, so the pull error does not depend on
 * which one ran.
 */
export type LayerRejection =
  /** An entry would land outside the layer: `..`, an absolute path, a write through a symlink, a hard link to outside. */
  | 'path-escape'
  /** More uncompressed bytes than `image.max_layer_bytes` allows: a decompression bomb, or a layer too large for the host. */
  | 'too-large'
  /** The compressed stream or the tar inside it is malformed or truncated. */
  | 'corrupt'
  /** A tar entry type crion cannot represent in a layer (e.g. a sparse or volume header it does not know). */
  | 'unsupported-entry'
  /** The uncompressed stream's digest differs from the diffID the image config promises. */
  | 'diff-id-mismatch';

export class LayerUnpackError extends InvalidArgumentError {
  constructor(
    readonly rejection: LayerRejection,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
