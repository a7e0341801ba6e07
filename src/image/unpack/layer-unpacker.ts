/**
 * The contract both layer unpackers (the native one and the TypeScript
 * fallback) implement, so the puller can take either and the conformance
 * test can run one table of layers through both.
 *
 * An unpacker reads the blob once: it hashes the compressed bytes,
 * decompresses, hashes the tar stream (the diffID, trailing zero blocks
 * included) and writes the entries under `destination`, confined to it.
 * It rejects with a `LayerUnpackError` for a bad layer; any other rejection
 * is the host's failure (I/O, a missing tool) or an abort. Either way it
 * leaves `destination` half-written: the caller removes it.
 */

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface LayerUnpackRequest {
  /** The downloaded blob, as it came from the registry. */
  blobPath: string;
  /** An existing, empty directory the caller owns; entries land inside it. */
  destination: string;
  compression: LayerCompression;
  /** Refuse the layer (`too-large`) as soon as the tar stream grows past this. */
  maxUncompressedBytes: number;
}

export interface LayerUnpackResult {
  /** `sha256:<hex>` of the blob: what the manifest names the layer by. */
  compressedDigest: string;
  /** `sha256:<hex>` of the uncompressed tar stream: what the image config's `rootfs.diff_ids` lists. */
  diffId: string;
  compressedSize: number;
  uncompressedSize: number;
  /** Tar entries applied, whiteouts included; PAX and GNU long-name headers are not entries. */
  entries: number;
}

export type LayerUnpacker = (request: LayerUnpackRequest, signal?: AbortSignal) => Promise<LayerUnpackResult>;
