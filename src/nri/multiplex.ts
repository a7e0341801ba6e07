import { Duplex } from 'node:stream';

/**
 * NRI's connection multiplexer (containerd/nri pkg/net/multiplex): several
 * logical connections over one unix socket, each frame an 8-byte header
 * (big-endian uint32 connection ID, uint32 payload length) and its payload.
 * A plugin serves its ttRPC Plugin service on connection 1 and calls the
 * runtime's Runtime service on connection 2.
 */

export const PLUGIN_SERVICE_CONN = 1;
export const RUNTIME_SERVICE_CONN = 2;

const HEADER_BYTES = 8;
/** NRI's limit: one ttRPC message with its header; longer writes are split. */
export const MAX_PAYLOAD_BYTES = 10 + 4 * 1024 * 1024;

/** Splits a byte stream into mux frames, however the chunks fall. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** The whole frames `chunk` completes, in order. */
  push(chunk: Buffer): Array<{ connId: number; payload: Buffer }> {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Array<{ connId: number; payload: Buffer }> = [];
    while (this.buffered.length >= HEADER_BYTES) {
      const length = this.buffered.readUInt32BE(4);
      if (length > MAX_PAYLOAD_BYTES) throw new Error(`mux frame of ${length} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`);
      if (this.buffered.length < HEADER_BYTES + length) break;
      frames.push({ connId: this.buffered.readUInt32BE(0), payload: this.buffered.subarray(HEADER_BYTES, HEADER_BYTES + length) });
      this.buffered = this.buffered.subarray(HEADER_BYTES + length);
    }
    return frames;
  }
}

/** The frames that carry `data` on `connId`. */
export function encodeFrames(connId: number, data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let offset = 0; offset < data.length || frames.length === 0; offset += MAX_PAYLOAD_BYTES) {
    const payload = data.subarray(offset, offset + MAX_PAYLOAD_BYTES);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(connId, 0);
    header.writeUInt32BE(payload.length, 4);
    frames.push(header, payload);
  }
  return frames;
}

/** One multiplexed trunk; `open` gives the logical connection with an ID, frames for it received before are kept. */
export class Multiplex {
  private readonly conns = new Map<number, Duplex>();
  private readonly reader = new FrameReader();
  private closed = false;

  /** `onClose` hears of the trunk's end, with the error that ended it, if any. */
  constructor(
    private readonly trunk: Duplex,
    private readonly onClose: (error?: Error) => void = () => {},
  ) {
    trunk.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = this.reader.push(chunk);
      } catch (error) {
        this.close(error as Error);
        return;
      }
      for (const { connId, payload } of frames) this.open(connId).push(payload);
    });
    trunk.on('close', () => this.close());
    trunk.on('error', (error) => this.close(error));
  }

  open(connId: number): Duplex {
    const existing = this.conns.get(connId);
    if (existing) return existing;
    const conn = new Duplex({
      read: () => {},
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.closed || this.trunk.destroyed) {
          callback(new Error('the multiplexed connection is closed'));
          return;
        }
        // One write per frame pair, so concurrent writers on other connections never split a frame.
        this.trunk.write(Buffer.concat(encodeFrames(connId, chunk)), callback);
      },
    });
    this.conns.set(connId, conn);
    return conn;
  }

  /** Ends every logical connection and the trunk. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    // Destroyed without the error: a logical connection may have no 'error' listener, and onClose reports it.
    for (const conn of this.conns.values()) conn.destroy();
    this.trunk.destroy();
    this.onClose(error);
  }
}
