import { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/** The v5 message `[255, channel]`: the client will send nothing more on that channel. */
const CLOSE_SIGNAL = 255;

export class ChannelProtocolError extends Error {}

export interface ChannelSocketOptions {
  /** `base64.` subprotocols: the channel is an ASCII digit and the payload base64, in text messages. */
  readonly base64: boolean;
  /** v5: `[255, channel]` closes one channel from the client's side. */
  readonly closeSignal: boolean;
  /** Per channel: whether what the client sends on it is kept. Messages on other channels are dropped unread. */
  readonly readable: readonly boolean[];
}

/**
 * Kubernetes' channel framing over one WebSocket: every message starts with
 * the number of the channel it belongs to. Each channel is offered as a
 * Readable (what the client sends on it) and a Writable (what goes to the
 * client). A reader that falls behind pauses the whole socket, as one TCP
 * connection cannot do better; a slow client slows writers through the
 * Writable's backpressure, since a write completes only once ws has handed
 * it to the socket.
 */
export class ChannelSocket {
  private readonly inputs: Readable[];
  private readonly outputs: Writable[];
  private paused = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: ChannelSocketOptions,
    onProtocolError: (error: ChannelProtocolError) => void,
  ) {
    this.inputs = options.readable.map(() => new Readable({ read: () => this.resumeIfDrained() }));
    this.outputs = options.readable.map((_, channel) => this.makeOutput(channel));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        this.receive(data, isBinary);
      } catch (error) {
        if (!(error instanceof ChannelProtocolError)) throw error;
        onProtocolError(error);
      }
    });
    ws.once('close', () => {
      for (const input of this.inputs) input.push(null);
      for (const output of this.outputs) output.destroy();
    });
  }

  input(channel: number): Readable {
    return this.inputs[channel]!;
  }

  output(channel: number): Writable {
    return this.outputs[channel]!;
  }

  private makeOutput(channel: number): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        if (this.ws.readyState !== this.ws.OPEN) return done(new Error('the client has gone'));
        this.ws.send(this.frame(channel, chunk), { binary: !this.options.base64 }, (error) => done(error ?? null));
      },
    });
  }

  /** Sends one message on `channel` even when empty: an empty message is how a server says a channel is open. */
  send(channel: number, payload: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(this.frame(channel, payload), { binary: !this.options.base64 });
  }

  private frame(channel: number, payload: Buffer): Buffer {
    if (!this.options.base64) return Buffer.concat([Buffer.of(channel), payload]);
    return Buffer.from(String.fromCharCode(48 + channel) + payload.toString('base64'));
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (data.length === 0) return;
    if (this.options.closeSignal && data[0] === CLOSE_SIGNAL) {
      const channel = data.length === 2 ? data[1]! : -1;
      if (channel < 0 || channel >= this.inputs.length) throw new ChannelProtocolError('a close signal must name one open channel');
      this.inputs[channel]!.push(null);
      return;
    }
    if (this.options.base64 === isBinary) {
      throw new ChannelProtocolError(`expected ${this.options.base64 ? 'text' : 'binary'} messages on this subprotocol`);
    }
    const channel = this.options.base64 ? data[0]! - 48 : data[0]!;
    // Kubernetes' own server ignores a channel it does not have, so clients may rely on that.
    if (channel < 0 || channel >= this.inputs.length || !this.options.readable[channel]) return;
    const payload = this.options.base64 ? Buffer.from(data.subarray(1).toString('latin1'), 'base64') : data.subarray(1);
    const input = this.inputs[channel]!;
    if (input.readableEnded || input.destroyed) return;
    if (!input.push(payload) && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
  }

  private resumeIfDrained(): void {
    if (!this.paused || this.inputs.some((input) => input.readableLength >= input.readableHighWaterMark)) return;
    this.paused = false;
    this.ws.resume();
  }
}
