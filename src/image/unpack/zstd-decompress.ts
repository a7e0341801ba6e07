import { Decompress } from 'fzstd';
import { LayerUnpackError } from './layer-unpack-error.js';

/**
 * zstd decompression for the TypeScript unpacker, on the pure-JS fzstd
 * (Node 20's zlib has no zstd). Multi-frame streams and skippable frames
 * are read as the zstd CLI reads them.
 *
 * fzstd decodes synchronously and hands out every block that the input it
 * was given completes, so one input chunk of tiny RLE blocks could inflate
 * to gigabytes before the consumer sees any of it. This module therefore
 * walks the frame and block headers itself and feeds fzstd one block at a
 * time, yielding each block's output before decoding the next: memory stays
 * at one block (128 KiB) however the layer was built. The walk also refuses
 * (`corrupt`, as libzstd's "frame requires too much memory") windows over
 * 128 MiB, libzstd's default decoding limit, before fzstd allocates them;
 * fzstd shifts its whole window on every block, so a large one costs time as
 * well as memory.
 */

const MAX_WINDOW = 128 * 1024 * 1024;
/** Block_Maximum_Size's upper bound in the zstd format: no block, compressed or not, is larger. */
const MAX_BLOCK = 128 * 1024;
const FRAME_MAGIC = 0xfd2fb528;
const MAX_FRAME_HEADER = 4 + 1 + 1 + 4 + 8;

export async function* decompressZstd(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const walker = new FrameWalker();
  const decoded: Uint8Array[] = [];
  const decoder = new Decompress((data) => {
    if (data.length > 0) decoded.push(data);
  });
  const feed = (input: Uint8Array, final: boolean): Buffer[] => {
    try {
      decoder.push(input, final);
    } catch (error) {
      throw new LayerUnpackError('corrupt', `zstd: ${(error as Error).message}`, { cause: error });
    }
    return decoded.splice(0).map((data) => Buffer.from(data.buffer, data.byteOffset, data.length));
  };
  for await (const chunk of source) {
    let start = 0;
    for (const end of walker.blockEnds(chunk)) {
      yield* feed(chunk.subarray(start, end), false);
      start = end;
    }
    if (start < chunk.length) yield* feed(chunk.subarray(start), false);
  }
  walker.finish();
  yield* feed(new Uint8Array(0), true);
}

type Phase = 'frame-start' | 'block-header' | 'block-body' | 'checksum' | 'skippable';

/** Follows frame and block boundaries without decoding anything. */
class FrameWalker {
  #phase: Phase = 'frame-start';
  readonly #header = Buffer.alloc(MAX_FRAME_HEADER);
  #have = 0;
  #want = 4;
  /** Bytes left of a block body, a checksum or a skippable frame. */
  #skip = 0;
  #lastBlock = false;
  #hasChecksum = false;
  #frames = 0;

  /** Offsets in `chunk` just past each block that ends inside it. */
  blockEnds(chunk: Buffer): number[] {
    const ends: number[] = [];
    let offset = 0;
    while (offset < chunk.length || (this.#skipping() && this.#skip === 0)) {
      if (this.#skipping()) {
        const count = Math.min(this.#skip, chunk.length - offset);
        offset += count;
        this.#skip -= count;
        if (this.#skip > 0) break;
        if (this.#phase === 'block-body') ends.push(offset);
        this.#skipped();
        continue;
      }
      const count = Math.min(this.#want - this.#have, chunk.length - offset);
      chunk.copy(this.#header, this.#have, offset, offset + count);
      this.#have += count;
      offset += count;
      if (this.#have === this.#want) this.#parseHeader();
    }
    return ends;
  }

  finish(): void {
    if (this.#frames === 0) throw corrupt('the stream holds no frame');
    if (this.#phase !== 'frame-start' || this.#have > 0) throw corrupt('the stream ends inside a frame');
  }

  #skipping(): boolean {
    return this.#phase === 'block-body' || this.#phase === 'checksum' || this.#phase === 'skippable';
  }

  #expect(phase: Phase, bytes: number): void {
    this.#phase = phase;
    this.#have = 0;
    this.#want = bytes;
  }

  #skipped(): void {
    if (this.#phase === 'block-body' && !this.#lastBlock) this.#expect('block-header', 3);
    else if (this.#phase === 'block-body' && this.#hasChecksum) {
      this.#phase = 'checksum';
      this.#skip = 4;
    } else this.#expect('frame-start', 4);
  }

  #parseHeader(): void {
    const header = this.#header;
    if (this.#phase === 'block-header') {
      const bits = header.readUIntLE(0, 3);
      const type = (bits >> 1) & 3;
      const size = bits >>> 3;
      if (type === 3) throw corrupt('reserved block type');
      if (size > MAX_BLOCK) throw corrupt(`block of ${size} bytes exceeds ${MAX_BLOCK}`);
      this.#lastBlock = (bits & 1) === 1;
      this.#phase = 'block-body';
      this.#skip = type === 1 ? 1 : size;
      return;
    }
    const magic = header.readUInt32LE(0);
    if (this.#have === 4) {
      this.#frames += 1;
      if (magic === FRAME_MAGIC) this.#want = 5;
      else if (magic >>> 4 === 0x184d2a5) this.#want = 8;
      else throw corrupt('unknown frame magic');
      return;
    }
    if (magic !== FRAME_MAGIC) {
      this.#phase = 'skippable';
      this.#skip = header.readUInt32LE(4);
      return;
    }
    const descriptor = header[4] ?? 0;
    if (descriptor & 0x08) throw corrupt('reserved frame header bit set');
    const singleSegment = (descriptor & 0x20) !== 0;
    const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6] ?? 0;
    const headerLength = 5 + (singleSegment ? 0 : 1) + ([0, 1, 2, 4][descriptor & 3] ?? 0) + contentSizeBytes;
    if (this.#have < headerLength) {
      this.#want = headerLength;
      return;
    }
    const window = singleSegment ? contentSize(header, headerLength - contentSizeBytes, contentSizeBytes) : windowSize(header[5] ?? 0);
    if (window > MAX_WINDOW) {
      throw corrupt(`a frame needs a ${window}-byte window; at most ${MAX_WINDOW} is decoded`);
    }
    this.#hasChecksum = (descriptor & 0x04) !== 0;
    this.#expect('block-header', 3);
  }
}

function windowSize(descriptor: number): number {
  const base = 2 ** (10 + (descriptor >> 3));
  return base + (base / 8) * (descriptor & 7);
}

function contentSize(header: Buffer, offset: number, bytes: number): number {
  switch (bytes) {
    case 1:
      return header[offset] ?? 0;
    case 2:
      return header.readUInt16LE(offset) + 256;
    case 4:
      return header.readUInt32LE(offset);
    default:
      return header.readUInt32LE(offset) + header.readUInt32LE(offset + 4) * 2 ** 32;
  }
}

function corrupt(detail: string): LayerUnpackError {
  return new LayerUnpackError('corrupt', `zstd: ${detail}`);
}
