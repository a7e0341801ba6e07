import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameParser, serializeFrame, SpdyProtocolError, type SpdyFrame } from '../../src/streaming/spdy/frames.js';
import { HeaderCompressor, HeaderDecompressor } from '../../src/streaming/spdy/header-compression.js';
import { UpgradeRefused } from './kube-stream-client.js';

/**
 * The client end of client-go's WebSocket port forward (kubectl's since
 * 1.31): a whole SPDY/3.1 connection carried in binary WebSocket messages,
 * under the subprotocol `SPDY/3.1+portforward.k8s.io`. The WebSocket side
 * is framed here by hand because ws refuses a subprotocol with a '/', and
 * the SPDY side uses crion's own frame codec, which its unit tests pin to
 * Go's.
 */

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

export class SpdyTunnel {
  private wsBuffer = Buffer.alloc(0);
  private readonly parser = new FrameParser({ maxFrameSize: 1 << 24 });
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private readonly replies = new Map<number, ReadonlyMap<string, string>>();
  private readonly received = new Map<number, Buffer[]>();
  private readonly finished = new Set<number>();
  /** RST_STREAMs and GOAWAYs, and frames that would not parse: what a failure message needs. */
  readonly trouble: string[] = [];
  private closed = false;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: Duplex,
    readonly protocol: string,
    head: Buffer,
  ) {
    socket.on('data', (chunk: Buffer) => this.onWebSocketBytes(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (error) => this.trouble.push(`socket: ${error.message}`));
    if (head.length > 0) this.onWebSocketBytes(head);
  }

  /** Upgrades `url` (https) to a WebSocket offering `protocol`; a plain HTTP answer rejects with UpgradeRefused. */
  static open(url: string, protocol: string): Promise<SpdyTunnel> {
    const key = randomBytes(16).toString('base64');
    const expectedAccept = createHash('sha1')
      .update(key + WEBSOCKET_GUID)
      .digest('base64');
    return new Promise((resolve, reject) => {
      const request = https.request(url, {
        rejectUnauthorized: false,
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': key,
          'Sec-WebSocket-Protocol': protocol,
        },
        timeout: 15_000,
      });
      request.on('upgrade', (response, socket, head) => {
        const chosen = response.headers['sec-websocket-protocol'] ?? '';
        if (response.headers['sec-websocket-accept'] !== expectedAccept) {
          socket.destroy();
          reject(new Error(`the upgrade's Sec-WebSocket-Accept ${response.headers['sec-websocket-accept']} is not ${expectedAccept}`));
          return;
        }
        resolve(new SpdyTunnel(socket, chosen, head));
      });
      request.on('response', (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => reject(new UpgradeRefused(response.statusCode ?? 0, body)));
      });
      request.on('timeout', () => request.destroy(new Error(`no upgrade from ${url} within 15 s`)));
      request.on('error', reject);
      request.end();
    });
  }

  /** SYN_STREAM with `headers`; client streams take odd IDs. */
  openStream(streamId: number, headers: Record<string, string>): void {
    const headerBlock = this.deflater.compress(Object.entries(headers));
    this.sendFrame({ type: 'syn-stream', streamId, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headerBlock });
  }

  /** DATA on `streamId`; `fin` half-closes the stream, as Go's stream.Close() does. */
  sendData(streamId: number, data: string | Buffer, fin = false): void {
    this.sendFrame({ type: 'data', streamId, flags: fin ? 1 : 0, data: Buffer.from(data) });
  }

  replied(streamId: number): boolean {
    return this.replies.has(streamId);
  }

  /** Everything received on `streamId` so far. */
  data(streamId: number): Buffer {
    return Buffer.concat(this.received.get(streamId) ?? []);
  }

  /** The peer half-closed `streamId` (DATA with FIN). */
  ended(streamId: number): boolean {
    return this.finished.has(streamId);
  }

  async until(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.closed) throw new Error(`the tunnel closed before ${what}; ${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}; ${this.describe()}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(200)]);
    }
  }

  /** A WebSocket close frame, then the socket's end. */
  close(): void {
    if (this.closed) return;
    this.writeWebSocket(Opcode.Close, Buffer.from([0x03, 0xe8]));
    this.socket.end();
  }

  describe(): string {
    const streams = [...this.received.keys()].map((id) => `${id}: ${JSON.stringify(this.data(id).toString('latin1'))}`);
    return `replies to ${JSON.stringify([...this.replies.keys()])}, data {${streams.join(', ')}}, trouble ${JSON.stringify(this.trouble)}`;
  }

  private sendFrame(frame: SpdyFrame): void {
    this.writeWebSocket(Opcode.Binary, serializeFrame(frame));
  }

  /** A client's frames are masked (RFC 6455 5.3), or the server must drop the connection. */
  private writeWebSocket(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    let header: Buffer;
    if (payload.length < 126) {
      header = Buffer.of(0x80 | opcode, 0x80 | payload.length);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header.writeUInt16BE(payload.length, 2);
      header[1] = 0x80 | 126;
    } else {
      header = Buffer.alloc(10);
      header.writeBigUInt64BE(BigInt(payload.length), 2);
      header[1] = 0x80 | 127;
    }
    header[0] = 0x80 | opcode;
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  private onWebSocketBytes(chunk: Buffer): void {
    this.wsBuffer = Buffer.concat([this.wsBuffer, chunk]);
    for (;;) {
      const buffer = this.wsBuffer;
      if (buffer.length < 2) return;
      const opcode = buffer[0]! & 0x0f;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const mask = (buffer[1]! & 0x80) !== 0 ? buffer.subarray(offset, offset + 4) : null;
      if (mask !== null) offset += 4;
      if (buffer.length < offset + length) return;
      const payload = Buffer.from(buffer.subarray(offset, offset + length));
      if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      this.wsBuffer = buffer.subarray(offset + length);
      if (opcode === Opcode.Binary || opcode === Opcode.Continuation || opcode === Opcode.Text) this.onSpdyBytes(payload);
      else if (opcode === Opcode.Ping) this.writeWebSocket(Opcode.Pong, payload);
      else if (opcode === Opcode.Close) this.socket.end();
    }
  }

  private onSpdyBytes(chunk: Buffer): void {
    for (const event of this.parser.push(chunk)) {
      if (event.kind === 'error') this.trouble.push(`unparsable: ${event.error.message}`);
      if (event.kind !== 'frame') continue;
      const frame = event.frame;
      switch (frame.type) {
        case 'syn-reply': {
          const headers = this.inflater.decompress(frame.headerBlock);
          if (headers instanceof SpdyProtocolError) this.trouble.push(`SYN_REPLY headers: ${headers.message}`);
          else this.replies.set(frame.streamId, headers);
          break;
        }
        case 'headers': {
          // Inflated all the same: every header block shares the connection's zlib context.
          const headers = this.inflater.decompress(frame.headerBlock);
          if (headers instanceof SpdyProtocolError) this.trouble.push(`HEADERS: ${headers.message}`);
          break;
        }
        case 'data':
          this.received.set(frame.streamId, [...(this.received.get(frame.streamId) ?? []), frame.data]);
          if ((frame.flags & 1) !== 0) this.finished.add(frame.streamId);
          break;
        case 'ping':
          this.sendFrame(frame);
          break;
        case 'rst-stream':
          this.trouble.push(`RST_STREAM ${frame.streamId} status ${frame.status}`);
          break;
        case 'goaway':
          this.trouble.push(`GOAWAY status ${frame.status}`);
          break;
        default:
          break;
      }
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
