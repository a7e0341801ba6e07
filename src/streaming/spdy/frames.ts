/**
 * SPDY/3.1 framing (draft-mbelshe-httpbis-spdy-00 §2.2–2.6 plus the 3.1 session window):
 * the frame types, their serialization, and an incremental parser that is fed whatever
 * chunks the socket hands over. Header blocks stay compressed here: their zlib context is
 * per connection and belongs to the session (header-compression.ts).
 *
 * Every frame starts with 8 bytes:
 *   control: |1| version(15) | type(16) | flags(8) | length(24) |
 *   data:    |0| stream id(31)          | flags(8) | length(24) |
 */

export const SPDY_VERSION = 3;

export const ControlType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL on SYN_STREAM: the sender will never receive on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;
/** FLAG_SETTINGS_CLEAR_SETTINGS on SETTINGS. */
export const FLAG_SETTINGS_CLEAR = 0x01;

/** RST_STREAM status codes (§2.6.3). */
export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

/** GOAWAY status codes (§2.6.6). */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

/** SETTINGS ids the session acts on; the others are parsed and ignored. */
export const SettingsId = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

/** Stream IDs and window deltas are 31-bit. */
export const MAX_31_BIT = 0x7fffffff;
/** The 24-bit length field's ceiling. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
const HEADER_SIZE = 8;

export interface SettingsEntry {
  flags: number;
  id: number;
  value: number;
}

export type SpdyFrame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn-stream'; streamId: number; associatedStreamId: number; priority: number; slot: number; flags: number; headerBlock: Buffer }
  | { type: 'syn-reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rst-stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: SettingsEntry[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'window-update'; streamId: number; delta: number };

/**
 * A violation of the protocol by the peer. `scope: 'session'` ends the connection with
 * GOAWAY(`status`); `scope: 'stream'` resets only `streamId` with RST_STREAM(`status`).
 */
export class SpdyProtocolError extends Error {
  readonly code = 'ERR_SPDY_PROTOCOL';

  constructor(
    message: string,
    readonly scope: 'session' | 'stream',
    readonly status: number,
    readonly streamId = 0,
  ) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

/** What one call to `FrameParser.push` produced, in wire order. */
export type ParseEvent =
  | { kind: 'frame'; frame: SpdyFrame }
  /** A control frame of a type this version does not define (NOOP, CREDENTIAL, …): the spec says ignore it. */
  | { kind: 'ignored'; controlType: number; length: number }
  | { kind: 'error'; error: SpdyProtocolError };

export interface FrameParserOptions {
  /** Largest payload accepted; a bigger DATA frame is skipped and its stream reset, a bigger control frame ends the session. */
  maxFrameSize?: number;
}

/** 1 MiB: Go's remotecommand and port-forward copy in 32 KiB writes, and header blocks are a few hundred bytes. */
export const DEFAULT_MAX_FRAME_SIZE = 1 << 20;

/**
 * Incremental parser. It holds at most one frame's header and payload (bounded by
 * `maxFrameSize`) beyond what the caller's chunk already occupies. After a session-level
 * error it reports nothing more: the connection is beyond repair.
 */
export class FrameParser {
  private readonly maxFrameSize: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload bytes of an oversized DATA frame still to be dropped as they arrive. */
  private skipping = 0;
  private failed = false;

  constructor(options: FrameParserOptions = {}) {
    this.maxFrameSize = Math.min(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE, MAX_FRAME_PAYLOAD);
  }

  push(chunk: Buffer): ParseEvent[] {
    const events: ParseEvent[] = [];
    if (this.failed) return events;
    if (this.skipping > 0) {
      const dropped = Math.min(this.skipping, chunk.length);
      this.skipping -= dropped;
      chunk = chunk.subarray(dropped);
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    while (!this.failed && this.skipping === 0 && this.buffered >= HEADER_SIZE) {
      const header = this.peek(HEADER_SIZE);
      const word = header.readUInt32BE(0);
      const flags = header[4]!;
      const length = header.readUIntBE(5, 3);
      const isControl = (word & 0x80000000) !== 0;
      if (length > this.maxFrameSize) {
        if (isControl) {
          this.fail(
            events,
            new SpdyProtocolError(
              `control frame of ${length} bytes exceeds the ${this.maxFrameSize}-byte limit`,
              'session',
              GoAwayStatus.ProtocolError,
            ),
          );
          break;
        }
        // A DATA frame's length is trustworthy enough to step over it: only its stream is lost.
        const streamId = word & MAX_31_BIT;
        this.consume(HEADER_SIZE);
        const inBuffer = Math.min(length, this.buffered);
        this.consume(inBuffer);
        this.skipping = length - inBuffer;
        events.push({
          kind: 'error',
          error: new SpdyProtocolError(
            `DATA frame of ${length} bytes exceeds the ${this.maxFrameSize}-byte limit`,
            'stream',
            RstStatus.FrameTooLarge,
            streamId,
          ),
        });
        continue;
      }
      if (this.buffered < HEADER_SIZE + length) break;
      this.consume(HEADER_SIZE);
      const payload = this.take(length);
      if (!isControl) {
        events.push({ kind: 'frame', frame: { type: 'data', streamId: word & MAX_31_BIT, flags, data: payload } });
        continue;
      }
      const version = (word >>> 16) & 0x7fff;
      const controlType = word & 0xffff;
      if (version !== SPDY_VERSION) {
        this.fail(events, new SpdyProtocolError(`SPDY version ${version} is not supported (only 3)`, 'session', GoAwayStatus.ProtocolError));
        break;
      }
      const parsed = parseControl(controlType, flags, payload);
      if (parsed === null) events.push({ kind: 'ignored', controlType, length });
      else if (parsed instanceof SpdyProtocolError) this.fail(events, parsed);
      else events.push({ kind: 'frame', frame: parsed });
    }
    return events;
  }

  private fail(events: ParseEvent[], error: SpdyProtocolError): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    events.push({ kind: 'error', error });
  }

  /** The first `n` bytes without consuming them; joins chunks only when a header straddles them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length >= n) {
      // Copy so a small frame does not pin the socket's whole chunk in memory.
      const out = Buffer.from(first.subarray(0, n));
      this.consume(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      this.consume(used);
    }
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= n) {
        n -= chunk.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = chunk.subarray(n);
        n = 0;
      }
    }
  }
}

function sessionError(message: string): SpdyProtocolError {
  return new SpdyProtocolError(message, 'session', GoAwayStatus.ProtocolError);
}

/** A frame, `null` for a type to ignore, or the reason the payload does not fit its type. */
function parseControl(controlType: number, flags: number, p: Buffer): SpdyFrame | SpdyProtocolError | null {
  const exactly = (name: string, n: number) => (p.length === n ? null : sessionError(`${name} frame has ${p.length} payload bytes, expected ${n}`));
  const atLeast = (name: string, n: number) =>
    p.length >= n ? null : sessionError(`${name} frame has ${p.length} payload bytes, expected at least ${n}`);
  switch (controlType) {
    case ControlType.SynStream:
      return (
        atLeast('SYN_STREAM', 10) ?? {
          type: 'syn-stream',
          streamId: p.readUInt32BE(0) & MAX_31_BIT,
          associatedStreamId: p.readUInt32BE(4) & MAX_31_BIT,
          priority: p[8]! >> 5,
          slot: p[9]!,
          flags,
          headerBlock: p.subarray(10),
        }
      );
    case ControlType.SynReply:
      return atLeast('SYN_REPLY', 4) ?? { type: 'syn-reply', streamId: p.readUInt32BE(0) & MAX_31_BIT, flags, headerBlock: p.subarray(4) };
    case ControlType.RstStream:
      return exactly('RST_STREAM', 8) ?? { type: 'rst-stream', streamId: p.readUInt32BE(0) & MAX_31_BIT, status: p.readUInt32BE(4) };
    case ControlType.Settings: {
      const short = atLeast('SETTINGS', 4);
      if (short) return short;
      const count = p.readUInt32BE(0);
      if (p.length !== 4 + count * 8) return sessionError(`SETTINGS frame declares ${count} entries in ${p.length} payload bytes`);
      const entries: SettingsEntry[] = [];
      for (let at = 4; at < p.length; at += 8) entries.push({ flags: p[at]!, id: p.readUIntBE(at + 1, 3), value: p.readUInt32BE(at + 4) });
      return { type: 'settings', flags, entries };
    }
    case ControlType.Ping:
      return exactly('PING', 4) ?? { type: 'ping', id: p.readUInt32BE(0) };
    case ControlType.GoAway:
      return exactly('GOAWAY', 8) ?? { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & MAX_31_BIT, status: p.readUInt32BE(4) };
    case ControlType.Headers:
      return atLeast('HEADERS', 4) ?? { type: 'headers', streamId: p.readUInt32BE(0) & MAX_31_BIT, flags, headerBlock: p.subarray(4) };
    case ControlType.WindowUpdate:
      return (
        exactly('WINDOW_UPDATE', 8) ?? { type: 'window-update', streamId: p.readUInt32BE(0) & MAX_31_BIT, delta: p.readUInt32BE(4) & MAX_31_BIT }
      );
    default:
      return null;
  }
}

function controlFrame(controlType: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`a SPDY frame payload cannot exceed ${MAX_FRAME_PAYLOAD} bytes`);
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  out.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | controlType) >>> 0, 0);
  out[4] = flags;
  out.writeUIntBE(payload.length, 5, 3);
  payload.copy(out, HEADER_SIZE);
  return out;
}

function words(...values: number[]): Buffer {
  const out = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => out.writeUInt32BE(v >>> 0, i * 4));
  return out;
}

/**
 * The 8 bytes that precede `length` bytes of payload in a DATA frame. Bulk senders write this
 * and the payload as two buffers, so the payload is never copied.
 */
export function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError(`a SPDY frame payload cannot exceed ${MAX_FRAME_PAYLOAD} bytes`);
  const out = Buffer.allocUnsafe(HEADER_SIZE);
  out.writeUInt32BE(streamId & MAX_31_BIT, 0);
  out[4] = flags;
  out.writeUIntBE(length, 5, 3);
  return out;
}

/** The frame's wire bytes. Header blocks must already be compressed. */
export function serializeFrame(frame: SpdyFrame): Buffer {
  switch (frame.type) {
    case 'data':
      return Buffer.concat([dataFrameHeader(frame.streamId, frame.flags, frame.data.length), frame.data]);
    case 'syn-stream': {
      const fixed = Buffer.allocUnsafe(10);
      fixed.writeUInt32BE(frame.streamId & MAX_31_BIT, 0);
      fixed.writeUInt32BE(frame.associatedStreamId & MAX_31_BIT, 4);
      fixed[8] = (frame.priority & 0x7) << 5;
      fixed[9] = frame.slot;
      return controlFrame(ControlType.SynStream, frame.flags, Buffer.concat([fixed, frame.headerBlock]));
    }
    case 'syn-reply':
      return controlFrame(ControlType.SynReply, frame.flags, Buffer.concat([words(frame.streamId & MAX_31_BIT), frame.headerBlock]));
    case 'rst-stream':
      return controlFrame(ControlType.RstStream, 0, words(frame.streamId & MAX_31_BIT, frame.status));
    case 'settings': {
      const payload = Buffer.allocUnsafe(4 + frame.entries.length * 8);
      payload.writeUInt32BE(frame.entries.length, 0);
      frame.entries.forEach((e, i) => {
        payload[4 + i * 8] = e.flags;
        payload.writeUIntBE(e.id, 5 + i * 8, 3);
        payload.writeUInt32BE(e.value >>> 0, 8 + i * 8);
      });
      return controlFrame(ControlType.Settings, frame.flags, payload);
    }
    case 'ping':
      return controlFrame(ControlType.Ping, 0, words(frame.id));
    case 'goaway':
      return controlFrame(ControlType.GoAway, 0, words(frame.lastGoodStreamId & MAX_31_BIT, frame.status));
    case 'headers':
      return controlFrame(ControlType.Headers, frame.flags, Buffer.concat([words(frame.streamId & MAX_31_BIT), frame.headerBlock]));
    case 'window-update':
      return controlFrame(ControlType.WindowUpdate, 0, words(frame.streamId & MAX_31_BIT, frame.delta & MAX_31_BIT));
  }
}
