import type { Duplex } from 'node:stream';
import protobuf from 'protobufjs';

/**
 * ttRPC (containerd/ttrpc), the RPC NRI speaks on each multiplexed
 * connection: messages with a 10-byte header (big-endian uint32 length,
 * uint32 stream ID, uint8 type: 1 request, 2 response; uint8 flags) and a
 * protobuf Request or Response. A client numbers its streams with odd IDs.
 * Only unary calls: NRI uses no streams.
 */

const HEADER_BYTES = 10;
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const MESSAGE_REQUEST = 1;
export const MESSAGE_RESPONSE = 2;

/** gRPC's codes, which ttRPC's Status reuses. */
export const CODE_DEADLINE_EXCEEDED = 4;
export const CODE_UNIMPLEMENTED = 12;
export const CODE_UNKNOWN = 2;
/** What pending and later calls fail with once the connection is gone. */
export const CODE_UNAVAILABLE = 14;

const wire = protobuf.Root.fromJSON({
  nested: {
    ttrpc: {
      nested: {
        Request: {
          fields: {
            service: { type: 'string', id: 1 },
            method: { type: 'string', id: 2 },
            payload: { type: 'bytes', id: 3 },
            timeoutNano: { type: 'int64', id: 4 },
          },
        },
        Response: { fields: { status: { type: 'Status', id: 1 }, payload: { type: 'bytes', id: 2 } } },
        // google.rpc.Status; its details (field 3) are skipped when decoded.
        Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } },
      },
    },
  },
});
const RequestType = wire.lookupType('ttrpc.Request');
const ResponseType = wire.lookupType('ttrpc.Response');

export interface TtrpcRequest {
  readonly service: string;
  readonly method: string;
  readonly payload: Buffer;
  /** 0: none. */
  readonly timeoutNano: number;
}

export interface TtrpcResponse {
  readonly status: { readonly code: number; readonly message: string } | null;
  readonly payload: Buffer;
}

export interface TtrpcMessage {
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
  readonly data: Buffer;
}

export function encodeMessage(message: TtrpcMessage): Buffer {
  if (message.data.length > MAX_MESSAGE_BYTES) throw new Error(`ttrpc message of ${message.data.length} bytes exceeds the 4 MiB limit`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(message.data.length, 0);
  header.writeUInt32BE(message.streamId, 4);
  header.writeUInt8(message.type, 8);
  header.writeUInt8(message.flags, 9);
  return Buffer.concat([header, message.data]);
}

/** Splits a byte stream into ttRPC messages, however the chunks fall. */
export class MessageReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): TtrpcMessage[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const messages: TtrpcMessage[] = [];
    while (this.buffered.length >= HEADER_BYTES) {
      const length = this.buffered.readUInt32BE(0);
      if (length > MAX_MESSAGE_BYTES) throw new Error(`ttrpc message of ${length} bytes exceeds the 4 MiB limit`);
      if (this.buffered.length < HEADER_BYTES + length) break;
      messages.push({
        streamId: this.buffered.readUInt32BE(4),
        type: this.buffered.readUInt8(8),
        flags: this.buffered.readUInt8(9),
        data: Buffer.from(this.buffered.subarray(HEADER_BYTES, HEADER_BYTES + length)),
      });
      this.buffered = this.buffered.subarray(HEADER_BYTES + length);
    }
    return messages;
  }
}

export function encodeRequest(request: TtrpcRequest): Buffer {
  return Buffer.from(RequestType.encode(RequestType.fromObject(request)).finish());
}

export function decodeRequest(data: Buffer): TtrpcRequest {
  const object = RequestType.toObject(RequestType.decode(data), { longs: Number, bytes: Buffer, defaults: true }) as TtrpcRequest;
  return { ...object, payload: Buffer.from(object.payload) };
}

export function encodeResponse(response: TtrpcResponse): Buffer {
  return Buffer.from(ResponseType.encode(ResponseType.fromObject(response)).finish());
}

export function decodeResponse(data: Buffer): TtrpcResponse {
  const object = ResponseType.toObject(ResponseType.decode(data), { bytes: Buffer, defaults: false }) as Partial<TtrpcResponse>;
  const status = object.status ? { code: object.status.code ?? 0, message: object.status.message ?? '' } : null;
  return { status, payload: Buffer.from(object.payload ?? Buffer.alloc(0)) };
}

/** A call the peer answered with a non-OK status, or that never got an answer. */
export class TtrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'TtrpcError';
  }
}

/** Answers a request's payload with the response's, or throws; a TtrpcError's code goes back to the caller. */
export type TtrpcHandler = (payload: Buffer, signal: AbortSignal) => Promise<Buffer>;

/**
 * Both ends of ttRPC over one connection: calls out (`call`) and serves
 * the handlers registered under "service/method". NRI uses each logical
 * connection one way only, but one class serves both.
 */
export class TtrpcChannel {
  private readonly reader = new MessageReader();
  private readonly pending = new Map<number, { resolve: (payload: Buffer) => void; reject: (error: Error) => void }>();
  private readonly serving = new Set<AbortController>();
  private nextStreamId = 1;
  private closedBy: Error | null = null;

  constructor(
    private readonly conn: Duplex,
    private readonly handlers: ReadonlyMap<string, TtrpcHandler> = new Map(),
  ) {
    conn.on('data', (chunk: Buffer) => {
      try {
        for (const message of this.reader.push(chunk)) this.receive(message);
      } catch (error) {
        this.close(error as Error);
      }
    });
    conn.on('close', () => this.close(new Error('the ttrpc connection closed')));
    conn.on('error', (error) => this.close(error));
  }

  /** The response's payload; rejects with a TtrpcError on a non-OK status, a timeout or a closed connection. */
  call(service: string, method: string, payload: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closedBy) return Promise.reject(new TtrpcError(CODE_UNAVAILABLE, this.closedBy.message));
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(streamId);
        reject(new TtrpcError(CODE_DEADLINE_EXCEEDED, `${service}/${method} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(streamId, {
        resolve: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      const data = encodeRequest({ service, method, payload, timeoutNano: timeoutMs * 1_000_000 });
      this.conn.write(encodeMessage({ streamId, type: MESSAGE_REQUEST, flags: 0, data }));
    });
  }

  close(error: Error): void {
    if (this.closedBy) return;
    this.closedBy = error;
    for (const { reject } of this.pending.values()) reject(new TtrpcError(CODE_UNAVAILABLE, error.message));
    this.pending.clear();
    for (const controller of this.serving) controller.abort();
    this.conn.destroy();
  }

  private receive(message: TtrpcMessage): void {
    if (message.type === MESSAGE_RESPONSE) {
      const waiter = this.pending.get(message.streamId);
      if (!waiter) return; // Timed out already.
      this.pending.delete(message.streamId);
      const response = decodeResponse(message.data);
      if (response.status !== null && response.status.code !== 0) waiter.reject(new TtrpcError(response.status.code, response.status.message));
      else waiter.resolve(response.payload);
      return;
    }
    if (message.type === MESSAGE_REQUEST) void this.serve(message.streamId, decodeRequest(message.data));
  }

  private async serve(streamId: number, request: TtrpcRequest): Promise<void> {
    const handler = this.handlers.get(`${request.service}/${request.method}`);
    const controller = new AbortController();
    this.serving.add(controller);
    let response: TtrpcResponse;
    try {
      if (!handler) throw new TtrpcError(CODE_UNIMPLEMENTED, `${request.service}/${request.method} is not served`);
      response = { status: null, payload: await handler(request.payload, controller.signal) };
    } catch (error) {
      const code = error instanceof TtrpcError ? error.code : CODE_UNKNOWN;
      response = { status: { code, message: error instanceof Error ? error.message : String(error) }, payload: Buffer.alloc(0) };
    } finally {
      this.serving.delete(controller);
    }
    if (this.closedBy) return;
    this.conn.write(encodeMessage({ streamId, type: MESSAGE_RESPONSE, flags: 0, data: encodeResponse(response) }));
  }
}
