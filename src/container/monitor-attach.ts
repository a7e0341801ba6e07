import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../errors.js';
import type { ExitStatus } from './monitor.js';

/**
 * Attach through crion-monitor: the `attach` control command turns a
 * connection to `STATE-DIR/ctl` into the container's stdio, as frames
 * `[kind u8][length u32 BE][payload]` (native/monitor/README.md, "Attach").
 * The monitor never waits on us: output we do not read in time is dropped
 * for this session (the log keeps it), and stdin is held back by the socket
 * while the container does not read it.
 */

export const FRAME = {
  stdout: 1,
  stderr: 2,
  exit: 3,
  error: 4,
  stdin: 16,
  closeStdin: 17,
  resize: 18,
} as const;

const HEADER = 5;

export interface AttachOutput {
  readonly stream: 'stdout' | 'stderr';
  readonly data: Buffer;
}

/** One frame header and payload, as the monitor reads them. */
export function encodeFrame(kind: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(kind, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Splits a byte stream into frames, whatever the chunks it arrives in. */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  /** The frames completed by `chunk`. */
  push(chunk: Buffer): Array<{ kind: number; payload: Buffer }> {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Array<{ kind: number; payload: Buffer }> = [];
    let offset = 0;
    while (this.#pending.length - offset >= HEADER) {
      const length = this.#pending.readUInt32BE(offset + 1);
      if (this.#pending.length - offset - HEADER < length) break;
      frames.push({ kind: this.#pending.readUInt8(offset), payload: this.#pending.subarray(offset + HEADER, offset + HEADER + length) });
      offset += HEADER + length;
    }
    this.#pending = this.#pending.subarray(offset);
    return frames;
  }

  /** Bytes of a frame not yet complete. */
  get buffered(): number {
    return this.#pending.length;
  }
}

/**
 * One attach session. `output` is an object-mode Readable of
 * {@link AttachOutput} that ends when the container has exited (after the
 * last of its output), when the monitor goes away, or on `detach()`.
 * Events: `drain` (stdin may be written again), `monitorError` (a message
 * the monitor sent about a frame it could not honour, e.g. stdin to a
 * container without one).
 */
export class MonitorAttachment extends EventEmitter {
  readonly output: Readable;
  /** How the container exited, once the monitor said so; null if the session ended without an exit frame. */
  readonly exited: Promise<ExitStatus | null>;
  readonly #socket: Socket;
  #exit: ExitStatus | null = null;
  #resolveExited!: (status: ExitStatus | null) => void;

  constructor(socket: Socket, rest: Buffer) {
    super();
    this.#socket = socket;
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
    // Reading waits for the consumer: a slow consumer makes the monitor drop
    // this session's oldest output, never the container wait.
    this.output = new Readable({ objectMode: true, read: () => socket.resume() });
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      for (const { kind, payload } of decoder.push(chunk)) {
        if (kind === FRAME.stdout || kind === FRAME.stderr) {
          const more = this.output.push({ stream: kind === FRAME.stdout ? 'stdout' : 'stderr', data: payload } satisfies AttachOutput);
          if (!more) socket.pause();
        } else if (kind === FRAME.exit) {
          this.#exit = JSON.parse(payload.toString('utf8')) as ExitStatus;
        } else if (kind === FRAME.error) {
          this.emit('monitorError', payload.toString('utf8'));
        }
      }
    };
    socket.on('data', onData);
    socket.on('drain', () => this.emit('drain'));
    // After `ok`, a socket error can only mean the monitor went away: the session ends like at end-of-file.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.output.push(null);
      this.#resolveExited(this.#exit);
    });
    if (rest.length > 0) onData(rest);
  }

  /**
   * Queues stdin for the container. False when the socket's buffer is full:
   * wait for `drain` before writing more. Without `--stdin` (or after
   * `closeStdin`) the monitor drops it and emits one `monitorError`.
   */
  writeStdin(data: Buffer): boolean {
    this.#requireOpen();
    if (data.length === 0) return true;
    return this.#socket.write(encodeFrame(FRAME.stdin, data));
  }

  /** Closes the container's stdin once what was written before has reached it (CRI `stdin_once`). */
  closeStdin(): void {
    this.#requireOpen();
    this.#socket.write(encodeFrame(FRAME.closeStdin));
  }

  /** Sets the terminal's size; a container without one answers with a `monitorError`. */
  resize(rows: number, cols: number): void {
    for (const [name, value] of [
      ['rows', rows],
      ['cols', cols],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new InvalidArgumentError(`terminal ${name} ${value} is not in 0..65535`);
    }
    this.#requireOpen();
    const size = Buffer.alloc(4);
    size.writeUInt16BE(rows, 0);
    size.writeUInt16BE(cols, 2);
    this.#socket.write(encodeFrame(FRAME.resize, size));
  }

  /** Leaves the session; the container runs on. `output` ends. */
  detach(): void {
    this.#socket.destroy();
  }

  #requireOpen(): void {
    if (this.#socket.destroyed || !this.#socket.writable) throw new FailedPreconditionError('the container is not running');
  }
}

/** Connects to the container's monitor and attaches to its stdio. */
export function attachMonitor(stateDir: string): Promise<MonitorAttachment> {
  return new Promise((resolve, reject) => {
    const socket = connect(path.join(stateDir, 'ctl'));
    let answer = Buffer.alloc(0);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      answer = Buffer.concat([answer, chunk]);
      const newline = answer.indexOf(0x0a);
      if (newline < 0) {
        if (answer.length > 4096) fail(new UnavailableError('crion-monitor answered attach with an over-long line'));
        return;
      }
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      const line = answer.subarray(0, newline).toString('utf8');
      if (line !== 'ok') {
        const message = line.replace(/^error /, '');
        fail(
          message.startsWith('too many')
            ? new ResourceExhaustedError(`crion-monitor refused attach: ${message}`)
            : new UnavailableError(`crion-monitor refused attach: ${message}`),
        );
        return;
      }
      resolve(new MonitorAttachment(socket, answer.subarray(newline + 1)));
    };
    const onError = (error: NodeJS.ErrnoException): void =>
      fail(
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET' || error.code === 'EPIPE'
          ? new FailedPreconditionError('the container is not running')
          : error,
      );
    // The monitor closes the socket as the container exits: between connect and answer, that is "not running".
    const onClose = (): void => fail(new FailedPreconditionError('the container is not running'));
    socket.on('connect', () => socket.write('attach\n'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
