/**
 * The server side of a SPDY/3.1 connection, for the CRI streaming server's exec, attach and
 * port-forward. The HTTP server answers the upgrade and hands over the socket (plus any bytes
 * it read past the request headers); `SpdySession` then owns it.
 *
 * Shape: the peer (kubectl, the kubelet, crictl, critest: all Go's moby/spdystream under
 * k8s.io/apimachinery's httpstream/spdy) opens every stream with SYN_STREAM; the session emits
 * each as a `SpdyStream` Duplex with its decompressed headers (`streamtype`, `port`, …). The
 * handler answers with `stream.reply(headers)` (sent implicitly before the first DATA
 * otherwise), reads and writes, `end()`s (DATA with FLAG_FIN) and may `reset()` (RST_STREAM).
 * The server opens no streams: none of the k8s protocols needs it.
 *
 * Flow control, and why it is not plain SPDY/3.1: spdystream implements no flow control at
 * all. It never sends WINDOW_UPDATE, ignores ours, and writes each buffer as one DATA frame
 * regardless of windows. A server that waited for WINDOW_UPDATE would stall every exec after
 * 64 KiB of output, and one that reset streams exceeding its receive window would break
 * `kubectl cp`. So with `peerFlowControl: 'auto'` (the default) the peer's windows bind our
 * writes only once the peer has shown it does flow control (a WINDOW_UPDATE or a SETTINGS
 * INITIAL_WINDOW_SIZE); until then writes are paced by the socket alone. `'enforce'` is
 * strict SPDY/3.1 from the first byte, and also resets a stream whose peer overruns our window.
 * Either way we track our receive windows and send WINDOW_UPDATE (per stream and for the
 * session, stream 0) only as the consumer reads, so a flow-controlled peer stops when a reader
 * does. Against a peer that ignores windows, memory stays bounded because the session stops
 * reading the socket while more than `maxBufferedBytes` of received data is unread, or while
 * our own replies (PING echoes, RSTs) pile up unsent: TCP then stops the peer.
 *
 * Errors: a frame that breaks the session (bad version, bad length, a header block that does
 * not inflate, a stream ID going backwards) sends GOAWAY(PROTOCOL_ERROR), emits `error` and
 * closes; a stream-level one (DATA on a stream that is not open, an oversized DATA frame)
 * sends RST_STREAM, emits `stream-error` and leaves the rest of the connection alone. When
 * nobody listens for `error` it is logged instead, so a hostile peer cannot crash the daemon.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.js';
import {
  dataFrameHeader,
  DEFAULT_MAX_FRAME_SIZE,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  GoAwayStatus,
  MAX_31_BIT,
  RstStatus,
  serializeFrame,
  SettingsId,
  SpdyProtocolError,
  type SpdyFrame,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor, type HeaderList } from './header-compression.js';

/** The window every SPDY/3.1 stream and session starts with. */
export const INITIAL_WINDOW = 65536;
/** DATA frames we send are cut at this size, so one busy stream cannot hog the socket for long. */
const MAX_DATA_FRAME = 32 * 1024;
/** Receive-window credit is returned once this much has been read, not byte by byte. */
const WINDOW_UPDATE_THRESHOLD = INITIAL_WINDOW / 2;

export interface SpdySessionOptions {
  logger?: Logger;
  /** Bytes the HTTP server read past the upgrade request: the start of the SPDY stream. */
  initialBuffered?: Buffer;
  /** See the top of this file. */
  peerFlowControl?: 'auto' | 'enforce';
  /** Largest frame accepted from the peer. */
  maxFrameSize?: number;
  /** Streams open at once; more are refused with RST_STREAM(REFUSED_STREAM). */
  maxConcurrentStreams?: number;
  /** Received but unread data (all streams) above which the socket is no longer read. */
  maxBufferedBytes?: number;
}

export type HeadersInput = HeaderList | Readonly<Record<string, string>>;

function headerPairs(headers: HeadersInput): HeaderList {
  if (Symbol.iterator in headers) return headers;
  return Object.entries(headers);
}

/**
 * One peer-initiated stream. Readable: the peer's DATA until its FIN. Writable: our DATA,
 * paced by the windows and the socket; `end()` sends FIN. `destroy()` without both FINs
 * exchanged resets the stream (CANCEL). A peer's RST_STREAM(CANCEL) destroys it without an
 * error, any other status with a `SpdyProtocolError`.
 */
export class SpdyStream extends Duplex {
  /** The status of the RST_STREAM that ended the stream, sent or received. */
  resetStatus: number | null = null;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow = INITIAL_WINDOW;
  /** @internal Bytes of DATA pushed to the readable side. */ received = 0;
  /** @internal Of those, bytes the consumer has taken and `unread` no longer counts. */ consumed = 0;
  /** @internal Of those, bytes returned to the peer by WINDOW_UPDATE. */ acknowledged = 0;
  /** @internal */ remoteClosed = false;
  /** @internal */ localClosed = false;
  /** @internal */ pending: { data: Buffer; callback: (error?: Error | null) => void } | null = null;
  private replied = false;

  /** @internal */
  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: ReadonlyMap<string, string>,
    readonly unidirectional: boolean,
    sendWindow: number,
  ) {
    // A fixed mark keeps the window arithmetic in session.ts the same on every Node version.
    super({ allowHalfOpen: true, readableHighWaterMark: 16 * 1024 });
    this.sendWindow = sendWindow;
    if (unidirectional) this.localClosed = true;
  }

  /** Sends SYN_REPLY. Header names must be lowercase; join multiple values with NUL. */
  reply(headers: HeadersInput = [], options: { fin?: boolean } = {}): void {
    if (this.replied) throw new Error(`stream ${this.id} has already been replied to`);
    if (this.unidirectional) throw new Error(`stream ${this.id} is unidirectional: the peer accepts no reply`);
    if (this.destroyed) return;
    this.replied = true;
    this.session.sendReply(this, headerPairs(headers), options.fin === true);
    if (options.fin === true) this.end();
  }

  /** Sends RST_STREAM(`status`) and destroys the stream. */
  reset(status: number = RstStatus.Cancel): void {
    if (this.resetStatus !== null || this.destroyed) return;
    this.resetStatus = status;
    this.session.sendReset(this.id, status);
    this.destroy();
  }

  /** @internal */
  ensureReplied(): void {
    if (!this.replied) this.reply();
  }

  override _read(): void {
    this.session.acknowledge(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.localClosed)
      return callback(new Error(`stream ${this.id} cannot be written: ${this.unidirectional ? 'it is unidirectional' : 'it is closed'}`));
    this.ensureReplied();
    this.pending = { data: chunk, callback };
    this.session.pump();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.localClosed) return callback();
    this.ensureReplied();
    this.session.sendFin(this);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    const pending = this.pending;
    this.pending = null;
    pending?.callback(error ?? new Error(`stream ${this.id} was destroyed`));
    if (this.resetStatus === null && !(this.localClosed && this.remoteClosed)) {
      this.resetStatus = RstStatus.Cancel;
      this.session.sendReset(this.id, RstStatus.Cancel);
    }
    this.session.forget(this);
    callback(error);
  }
}

export interface SpdySessionEvents {
  stream: [stream: SpdyStream];
  /** The session is closed (a session-level protocol error, a socket error, or destroy(err)). */
  error: [error: Error];
  /** Only `error.streamId` was reset; the session goes on. */
  'stream-error': [error: SpdyProtocolError];
  /** The peer will open no more streams. */
  goaway: [lastGoodStreamId: number, status: number];
  close: [];
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  private readonly socket: Duplex;
  private readonly log: Logger | undefined;
  private readonly parser: FrameParser;
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly enforceAlways: boolean;
  private readonly maxConcurrentStreams: number;
  private readonly maxBufferedBytes: number;
  private peerFlowControlSeen = false;
  private peerInitialWindow = INITIAL_WINDOW;
  private sessionSendWindow = INITIAL_WINDOW;
  /** Bytes consumed or dropped (all streams) not yet returned by a stream-0 WINDOW_UPDATE. */
  private sessionUnacknowledged = 0;
  private unread = 0;
  private lastPeerStreamId = 0;
  private socketBlocked = false;
  private readPaused = false;
  private goingAway = false;
  private peerGoneAway = false;
  private peerEnded = false;
  private pumping = false;
  private closed = false;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(socket: Duplex, options: SpdySessionOptions = {}) {
    super();
    this.socket = socket;
    this.log = options.logger;
    this.parser = new FrameParser({ maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE });
    this.enforceAlways = options.peerFlowControl === 'enforce';
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    socket.on('drain', () => {
      this.socketBlocked = false;
      this.updateReadPause();
      this.pump();
    });
    socket.on('error', (error: Error) => this.destroy(error));
    socket.on('end', () => this.onPeerEnd());
    socket.on('close', () => this.destroy());
    // Start on the next tick so the creator can attach 'stream' listeners first; until then
    // the socket keeps anything it receives.
    process.nextTick(() => {
      if (this.closed) return;
      if (options.initialBuffered && options.initialBuffered.length > 0) this.receive(options.initialBuffered);
      if (this.closed) return;
      socket.on('data', this.onData);
      // An upgraded socket may have been paused explicitly, which a 'data' listener does not undo.
      if (!this.readPaused) socket.resume();
    });
  }

  /** Streams currently open. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Sends GOAWAY(OK), refuses new streams, and ends the connection once the open ones are done. */
  close(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.write({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.Ok });
    this.endIfIdle();
  }

  /** Tears the connection down now: open streams are destroyed, the socket too. */
  destroy(error?: Error): void {
    this.teardown(error, false);
  }

  /** `flush`: end the socket rather than destroy it, so a GOAWAY just written still leaves. */
  private teardown(error: Error | undefined, flush: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.off('data', this.onData);
    for (const stream of [...this.streams.values()]) {
      // No RST: the socket goes with them.
      stream.resetStatus ??= RstStatus.Cancel;
      stream.destroy();
    }
    this.streams.clear();
    if (flush) {
      this.socket.end();
      // A peer that never reads would keep the socket, and its buffers, forever.
      setTimeout(() => this.socket.destroy(), 5000).unref();
    } else {
      this.socket.destroy();
    }
    if (error) this.emitError(error);
    this.emit('close');
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.log?.warn({ err: error }, 'SPDY session failed');
  }

  // ---- receiving ----

  private receive(chunk: Buffer): void {
    for (const event of this.parser.push(chunk)) {
      if (this.closed) return;
      if (event.kind === 'frame') this.handleFrame(event.frame);
      else if (event.kind === 'error') this.protocolError(event.error);
      else this.log?.debug({ controlType: event.controlType }, 'ignoring a SPDY control frame of unknown type');
    }
    this.updateReadPause();
  }

  private protocolError(error: SpdyProtocolError): void {
    if (error.scope === 'stream') {
      this.sendReset(error.streamId, error.status);
      const stream = this.streams.get(error.streamId);
      if (stream) {
        stream.resetStatus = error.status;
        stream.destroy(error);
      }
      if (this.listenerCount('stream-error') > 0) this.emit('stream-error', error);
      else this.log?.debug({ err: error, streamId: error.streamId }, 'SPDY stream error');
      return;
    }
    this.write({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: error.status });
    this.teardown(error, true);
  }

  private handleFrame(frame: SpdyFrame): void {
    switch (frame.type) {
      case 'syn-stream':
        return this.onSynStream(frame);
      case 'data':
        return this.onDataFrame(frame.streamId, frame.flags, frame.data);
      case 'rst-stream': {
        const stream = this.streams.get(frame.streamId);
        if (!stream) return;
        stream.resetStatus = frame.status;
        stream.remoteClosed = stream.localClosed = true;
        if (frame.status === RstStatus.Cancel) stream.destroy();
        else
          stream.destroy(
            new SpdyProtocolError(`peer reset stream ${frame.streamId} with status ${frame.status}`, 'stream', frame.status, frame.streamId),
          );
        return;
      }
      case 'settings':
        for (const entry of frame.entries) {
          if (entry.id !== SettingsId.InitialWindowSize) continue;
          if (entry.value > MAX_31_BIT) return this.protocolError(sessionError(`SETTINGS_INITIAL_WINDOW_SIZE of ${entry.value} exceeds 2^31-1`));
          // The change applies to open streams too, possibly leaving their windows negative.
          const change = entry.value - this.peerInitialWindow;
          this.peerInitialWindow = entry.value;
          for (const stream of this.streams.values()) stream.sendWindow += change;
          this.peerFlowControlSeen = true;
        }
        return this.pump();
      case 'ping':
        // Odd IDs are the client's; even ones would answer pings we never send.
        if (frame.id % 2 === 1) this.write({ type: 'ping', id: frame.id });
        return;
      case 'goaway':
        this.peerGoneAway = true;
        this.emit('goaway', frame.lastGoodStreamId, frame.status);
        return this.endIfIdle();
      case 'headers': {
        const headers = this.inflater.decompress(frame.headerBlock);
        if (headers instanceof SpdyProtocolError) return this.protocolError(headers);
        const stream = this.streams.get(frame.streamId);
        if (!stream)
          return this.protocolError(streamError(frame.streamId, RstStatus.InvalidStream, `HEADERS on stream ${frame.streamId}, which is not open`));
        stream.emit('headers', headers);
        if (frame.flags & FLAG_FIN) this.remoteFin(stream);
        return;
      }
      case 'syn-reply': {
        // Keep the inflater in step even though the frame itself is refused.
        const headers = this.inflater.decompress(frame.headerBlock);
        if (headers instanceof SpdyProtocolError) return this.protocolError(headers);
        return this.protocolError(
          streamError(frame.streamId, RstStatus.ProtocolError, `SYN_REPLY for stream ${frame.streamId}, which the server never opened`),
        );
      }
      case 'window-update':
        return this.onWindowUpdate(frame.streamId, frame.delta);
    }
  }

  private onSynStream(frame: Extract<SpdyFrame, { type: 'syn-stream' }>): void {
    // Decompress first, whatever happens to the stream: the zlib context spans all frames.
    const headers = this.inflater.decompress(frame.headerBlock);
    if (headers instanceof SpdyProtocolError) return this.protocolError(headers);
    const id = frame.streamId;
    if (id % 2 === 0) return this.protocolError(sessionError(`SYN_STREAM with even stream ID ${id}: a client's IDs are odd`));
    if (id <= this.lastPeerStreamId)
      return this.protocolError(sessionError(`SYN_STREAM with stream ID ${id}, not above the previous ${this.lastPeerStreamId}`));
    this.lastPeerStreamId = id;
    if (this.goingAway || this.peerGoneAway || this.streams.size >= this.maxConcurrentStreams) {
      this.sendReset(id, RstStatus.RefusedStream);
      return;
    }
    const stream = new SpdyStream(this, id, headers, (frame.flags & FLAG_UNIDIRECTIONAL) !== 0, this.peerInitialWindow);
    this.streams.set(id, stream);
    if (stream.unidirectional) stream.end();
    this.log?.debug({ streamId: id, headers: Object.fromEntries(headers) }, 'SPDY stream opened');
    this.emit('stream', stream);
    if (frame.flags & FLAG_FIN) this.remoteFin(stream);
  }

  private onDataFrame(id: number, flags: number, data: Buffer): void {
    const stream = this.streams.get(id);
    if (!stream || stream.remoteClosed || (stream.recvWindow < data.length && this.enforceAlways)) {
      // The data is dropped, so its session-window credit goes back at once.
      this.sessionUnacknowledged += data.length;
      this.acknowledgeSession();
    }
    if (!stream) {
      // DATA still in flight when we reset or finished a stream is expected: drop it quietly.
      if (id <= this.lastPeerStreamId && id % 2 === 1) return;
      return this.protocolError(streamError(id, RstStatus.InvalidStream, `DATA on stream ${id}, which was never opened`));
    }
    if (stream.remoteClosed) return this.protocolError(streamError(id, RstStatus.StreamAlreadyClosed, `DATA on stream ${id} after its FIN`));
    if (stream.recvWindow < data.length && this.enforceAlways) {
      return this.protocolError(streamError(id, RstStatus.FlowControlError, `peer overran stream ${id}'s receive window`));
    }
    stream.recvWindow -= data.length;
    if (data.length > 0) {
      stream.received += data.length;
      this.unread += data.length;
      // push()'s false is ignored on purpose: the window, or maxBufferedBytes, bounds the buffer.
      stream.push(data);
      this.acknowledge(stream);
    }
    if (flags & FLAG_FIN) this.remoteFin(stream);
  }

  private remoteFin(stream: SpdyStream): void {
    stream.remoteClosed = true;
    stream.push(null);
    this.closeIfDone(stream);
  }

  private onWindowUpdate(id: number, delta: number): void {
    this.peerFlowControlSeen = true;
    if (delta === 0)
      return this.protocolError(
        id === 0
          ? sessionError('WINDOW_UPDATE with delta 0')
          : streamError(id, RstStatus.ProtocolError, `WINDOW_UPDATE with delta 0 on stream ${id}`),
      );
    if (id === 0) {
      this.sessionSendWindow += delta;
      if (this.sessionSendWindow > MAX_31_BIT)
        return this.protocolError(new SpdyProtocolError('session window grew past 2^31-1', 'session', GoAwayStatus.ProtocolError));
      return this.pump();
    }
    const stream = this.streams.get(id);
    if (!stream) return; // Closed since: the update raced the close.
    stream.sendWindow += delta;
    if (stream.sendWindow > MAX_31_BIT)
      return this.protocolError(streamError(id, RstStatus.FlowControlError, `stream ${id}'s window grew past 2^31-1`));
    this.pump();
  }

  /** @internal Returns receive-window credit for what the stream's consumer has taken. */
  acknowledge(stream: SpdyStream): void {
    if (this.closed) return;
    const consumedNow = stream.received - stream.readableLength;
    if (consumedNow > stream.consumed) {
      this.unread -= consumedNow - stream.consumed;
      this.sessionUnacknowledged += consumedNow - stream.consumed;
      stream.consumed = consumedNow;
    }
    // Half the window at a time: a blocked peer has a full window outstanding, and the
    // readable's 16 KiB mark lets at most that much sit unread when _read asks for more.
    const credit = stream.consumed - stream.acknowledged;
    if (credit >= WINDOW_UPDATE_THRESHOLD) {
      stream.acknowledged += credit;
      stream.recvWindow += credit;
      if (!stream.remoteClosed && this.streams.has(stream.id)) this.write({ type: 'window-update', streamId: stream.id, delta: credit });
    }
    this.acknowledgeSession();
    this.updateReadPause();
  }

  private acknowledgeSession(): void {
    if (this.sessionUnacknowledged < WINDOW_UPDATE_THRESHOLD) return;
    this.write({ type: 'window-update', streamId: 0, delta: this.sessionUnacknowledged });
    this.sessionUnacknowledged = 0;
  }

  private updateReadPause(): void {
    const shouldPause = this.unread > this.maxBufferedBytes || this.socket.writableLength > this.maxBufferedBytes;
    if (shouldPause === this.readPaused || this.closed) return;
    this.readPaused = shouldPause;
    if (shouldPause) this.socket.pause();
    else this.socket.resume();
  }

  private onPeerEnd(): void {
    // The peer will send nothing more: streams still waiting for its FIN never get one, and
    // the others may finish writing before the socket ends.
    this.peerEnded = true;
    for (const stream of [...this.streams.values()]) if (!stream.remoteClosed) stream.destroy();
    this.endIfIdle();
  }

  // ---- sending ----

  private write(frame: SpdyFrame): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return;
    if (!this.socket.write(serializeFrame(frame))) this.socketBlocked = true;
  }

  /**
   * A DATA frame as its header and the caller's buffer, not copied into one: on bulk output
   * (port-forward, `kubectl cp`) the copy, its allocation and the garbage it left were most of
   * the daemon's CPU. Since the socket now holds the caller's buffer until it is flushed,
   * `flushed` (the stream's write callback) waits for that, so the writer cannot reuse the
   * buffer early; its error is not passed on, as a failing socket tears the session down.
   */
  private writeData(streamId: number, data: Buffer, flushed: (() => void) | null): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) {
      flushed?.();
      return;
    }
    const headerTaken = this.socket.write(dataFrameHeader(streamId, 0, data.length));
    const dataTaken = flushed === null ? this.socket.write(data) : this.socket.write(data, () => flushed());
    if (!headerTaken || !dataTaken) this.socketBlocked = true;
  }

  /** @internal */
  sendReply(stream: SpdyStream, headers: HeaderList, fin: boolean): void {
    if (this.closed) return;
    this.write({ type: 'syn-reply', streamId: stream.id, flags: fin ? FLAG_FIN : 0, headerBlock: this.deflater.compress(headers) });
  }

  /** @internal */
  sendReset(id: number, status: number): void {
    this.write({ type: 'rst-stream', streamId: id, status });
  }

  /** @internal */
  sendFin(stream: SpdyStream): void {
    this.write({ type: 'data', streamId: stream.id, flags: FLAG_FIN, data: Buffer.alloc(0) });
    stream.localClosed = true;
    this.closeIfDone(stream);
  }

  private windowsBind(): boolean {
    return this.enforceAlways || this.peerFlowControlSeen;
  }

  /** @internal Moves pending stream writes onto the socket as far as windows and socket allow. */
  pump(): void {
    // A write callback can synchronously start the stream's next _write, which calls pump
    // again: the outer loop picks that up instead of recursing once per buffered chunk.
    if (this.pumping) return;
    this.pumping = true;
    // Corked, the frames of one pass (a header and its payload at least) leave in one writev.
    this.socket.cork();
    try {
      this.pumpLoop();
    } finally {
      this.pumping = false;
      this.socket.uncork();
    }
  }

  private pumpLoop(): void {
    let progressed = true;
    while (progressed && !this.socketBlocked && !this.closed) {
      progressed = false;
      for (const stream of this.streams.values()) {
        const pending = stream.pending;
        if (pending === null) continue;
        let allowed = Math.min(pending.data.length, MAX_DATA_FRAME);
        if (this.windowsBind()) allowed = Math.min(allowed, stream.sendWindow, this.sessionSendWindow);
        if (allowed <= 0) continue;
        const data = pending.data.subarray(0, allowed);
        stream.sendWindow -= allowed;
        this.sessionSendWindow -= allowed;
        progressed = true;
        if (allowed === pending.data.length) {
          stream.pending = null;
          this.writeData(stream.id, data, () => pending.callback());
        } else {
          this.writeData(stream.id, data, null);
          pending.data = pending.data.subarray(allowed);
        }
        if (this.socketBlocked) break;
      }
    }
  }

  // ---- stream lifecycle ----

  private closeIfDone(stream: SpdyStream): void {
    if (!stream.localClosed || !stream.remoteClosed) return;
    this.forget(stream);
  }

  /** @internal */
  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (stream.destroyed) {
      // What it never read is dropped: the peer gets its session-window credit back.
      const dropped = stream.received - stream.consumed;
      stream.consumed = stream.received;
      this.unread -= dropped;
      this.sessionUnacknowledged += dropped;
      this.acknowledgeSession();
      this.updateReadPause();
    }
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.closed || this.streams.size > 0 || !(this.goingAway || this.peerGoneAway || this.peerEnded)) return;
    this.socket.end();
  }
}

function sessionError(message: string): SpdyProtocolError {
  return new SpdyProtocolError(message, 'session', GoAwayStatus.ProtocolError);
}

function streamError(streamId: number, status: number, message: string): SpdyProtocolError {
  return new SpdyProtocolError(message, 'stream', status, streamId);
}
