import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameParser, serializeFrame, SpdyProtocolError, type SpdyFrame } from '../../src/streaming/spdy/frames.js';
import { HeaderCompressor, HeaderDecompressor } from '../../src/streaming/spdy/header-compression.js';

/** The client end of a SPDY session: writes frames, and parses what the session sends back. */
export class Peer {
  readonly received: SpdyFrame[] = [];
  readonly replies = new Map<number, ReadonlyMap<string, string>>();
  private readonly parser = new FrameParser({ maxFrameSize: 1 << 24 });
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private waiters: Array<() => void> = [];
  ended = false;

  /** `initial`: bytes already read from the socket, past an HTTP upgrade's response. */
  constructor(
    readonly socket: net.Socket,
    initial: Buffer = Buffer.alloc(0),
  ) {
    const receive = (chunk: Buffer) => {
      for (const event of this.parser.push(chunk)) {
        if (event.kind !== 'frame') throw new Error(`session sent a bad frame: ${JSON.stringify(event)}`);
        const frame = event.frame;
        if (frame.type === 'syn-reply') {
          const headers = this.inflater.decompress(frame.headerBlock);
          if (headers instanceof SpdyProtocolError) throw headers;
          this.replies.set(frame.streamId, headers);
        }
        this.received.push(frame);
      }
      this.wake();
    };
    if (initial.length > 0) receive(initial);
    socket.on('data', receive);
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(...frames: SpdyFrame[]): void {
    for (const frame of frames) this.socket.write(serializeFrame(frame));
  }

  open(streamId: number, headers: Record<string, string>, flags = 0): void {
    const headerBlock = this.deflater.compress(Object.entries(headers));
    this.send({ type: 'syn-stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags, headerBlock });
  }

  /** Resolves once `ready` holds for what has arrived, failing after 3 s. */
  async until<T>(ready: () => T | undefined | false): Promise<T> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const value = ready();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error('timed out waiting for the session');
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(50)]);
    }
  }

  frame<K extends SpdyFrame['type']>(
    type: K,
    match: (f: Extract<SpdyFrame, { type: K }>) => boolean = () => true,
  ): Promise<Extract<SpdyFrame, { type: K }>> {
    return this.until(() =>
      this.received.find((f): f is Extract<SpdyFrame, { type: K }> => f.type === type && match(f as Extract<SpdyFrame, { type: K }>)),
    );
  }

  of<K extends SpdyFrame['type']>(type: K): Array<Extract<SpdyFrame, { type: K }>> {
    return this.received.filter((f): f is Extract<SpdyFrame, { type: K }> => f.type === type);
  }

  dataBytes(streamId: number): number {
    return this.of('data')
      .filter((f) => f.streamId === streamId)
      .reduce((sum, f) => sum + f.data.length, 0);
  }
}
