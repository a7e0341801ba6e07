import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { CancelledError } from '../errors.js';
import { toGrpcStatus } from './status-codes.js';

/** What a CRI handler gets besides its request. Handlers never see gRPC objects. */
export interface RpcContext {
  readonly log: Logger;
  /** Aborted when the client cancels the call or its deadline passes. */
  readonly signal: AbortSignal;
}

export type UnaryRpc<Request, Response> = (request: Request, context: RpcContext) => Promise<Response>;

/**
 * Where a server-streaming handler writes its messages. grpc-js queues every
 * write, so a producer that can outrun its client watches `send`'s answer.
 */
export interface MessageSink<Message> {
  /** Queues the message; false once the client's unread messages pass the stream's high-water mark. */
  send(message: Message): boolean;
  /** Settles when the client has read the queue down, or rejects when the call ends first. */
  drained(): Promise<void>;
}

/** Pushes messages to the client until it returns; the stream then ends with OK. */
export type ServerStreamRpc<Request, Message> = (request: Request, sink: MessageSink<Message>, context: RpcContext) => Promise<void>;

/**
 * Told of every call's outcome (the metrics' latency histogram and error
 * counts). The code is the gRPC status name, so what listens needs no gRPC.
 */
export interface RpcObserver {
  /** `code` is null for a call that succeeded, else NOT_FOUND, UNKNOWN, …. */
  finished(rpcName: string, seconds: number, code: string | null): void;
}

export const NO_RPC_OBSERVER: RpcObserver = { finished: () => undefined };

/**
 * The kubelet polls these every few seconds; logging each at info would
 * drown the calls that change something.
 */
const POLLED_RPC = /^(Version|Status|RuntimeConfig|ImageFsInfo|List\w*|\w*Status|\w*Stats|Stream\w*)$/;

/** Fields worth lifting from a request into every log line of the call. */
function correlationFields(request: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof request !== 'object' || request === null) return fields;
  const r = request as Record<string, unknown>;
  for (const key of ['podSandboxId', 'containerId'] as const) {
    if (typeof r[key] === 'string' && r[key] !== '') fields[key] = r[key];
  }
  const image = r.image as { image?: unknown } | null | undefined;
  if (typeof image?.image === 'string' && image.image !== '') fields.image = image.image;
  return fields;
}

/** The part of a grpc-js server call that tells us the client went away. */
type CancellableCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'once' | 'off'>;

interface CallTracker {
  readonly context: RpcContext;
  succeeded(): void;
  failed(error: unknown): Pick<grpc.StatusObject, 'code' | 'details'>;
}

/**
 * The single instrumentation layer: every RPC gets a child logger with its
 * name and object IDs, a line with outcome and latency, cancellation as an
 * AbortSignal, and errors mapped to status codes in one place.
 *
 * The kubelet polls the small calls many times a second, so what most calls
 * never use is made on first use: the child logger when a line is written at
 * an enabled level (a polled call's success at info writes none), the
 * AbortController when the handler reads `signal`.
 */
function trackCall(rpcName: string, baseLog: Logger, observer: RpcObserver, call: CancellableCall, request: unknown): CallTracker {
  const started = process.hrtime.bigint();
  let log: Logger | undefined;
  const callLog = (): Logger => (log ??= baseLog.child({ rpc: rpcName, ...correlationFields(request) }));
  let controller: AbortController | undefined;
  let cancelled: CancelledError | undefined;
  // grpc-js 1.14 emits 'cancelled' when any call's stream closes, answered ones too: the listener goes once the call is settled.
  const onCancelled = () => {
    // A domain error, so a handler that answers with the reason is logged as an outcome, not as a crash.
    cancelled = new CancelledError(`${rpcName} was cancelled by the client`);
    controller?.abort(cancelled);
  };
  call.once('cancelled', onCancelled);
  const level = POLLED_RPC.test(rpcName) ? 'debug' : 'info';
  if (baseLog.isLevelEnabled('trace')) callLog().trace({ request }, 'rpc started');
  const elapsedMs = () => Number(process.hrtime.bigint() - started) / 1e6;
  const settle = (code: string | null) => {
    call.off('cancelled', onCancelled);
    observer.finished(rpcName, elapsedMs() / 1000, code);
  };

  return {
    context: {
      get log() {
        return callLog();
      },
      get signal() {
        if (controller === undefined) {
          controller = new AbortController();
          if (cancelled !== undefined) controller.abort(cancelled);
        }
        return controller.signal;
      },
    },
    succeeded() {
      if (baseLog.isLevelEnabled(level)) callLog()[level]({ outcome: 'ok', latencyMs: elapsedMs() }, 'rpc finished');
      settle(null);
    },
    failed(error) {
      const { status, unexpected } = toGrpcStatus(error);
      if (unexpected) {
        callLog().error({ outcome: 'error', code: status.code, latencyMs: elapsedMs(), err: error }, 'rpc failed unexpectedly');
      } else {
        callLog().warn({ outcome: 'error', code: status.code, latencyMs: elapsedMs(), reason: status.details }, 'rpc failed');
      }
      settle(grpc.status[status.code]);
      return status;
    },
  };
}

export function unaryHandler<Request, Response>(
  rpcName: string,
  log: Logger,
  observer: RpcObserver,
  rpc: UnaryRpc<Request, Response>,
): grpc.handleUnaryCall<Request, Response> {
  return (call, callback) => {
    const tracker = trackCall(rpcName, log, observer, call, call.request);
    // Promise.resolve().then() turns a synchronous throw in the handler into a rejection.
    Promise.resolve()
      .then(() => rpc(call.request, tracker.context))
      .then(
        (response) => {
          tracker.succeeded();
          callback(null, response);
        },
        (error: unknown) => callback(tracker.failed(error)),
      );
  };
}

export function serverStreamHandler<Request, Message>(
  rpcName: string,
  log: Logger,
  observer: RpcObserver,
  rpc: ServerStreamRpc<Request, Message>,
): grpc.handleServerStreamingCall<Request, Message> {
  return (call) => {
    const tracker = trackCall(rpcName, log, observer, call, call.request);
    Promise.resolve()
      .then(() => rpc(call.request, messageSink(call, tracker.context.signal), tracker.context))
      .then(
        () => {
          tracker.succeeded();
          call.end();
        },
        (error: unknown) => call.emit('error', tracker.failed(error)),
      );
  };
}

function messageSink<Message>(call: grpc.ServerWritableStream<unknown, Message>, signal: AbortSignal): MessageSink<Message> {
  return {
    send: (message) => call.write(message),
    drained: () =>
      new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason as Error);
          return;
        }
        const onAbort = () => {
          call.off('drain', onDrain);
          reject(signal.reason as Error);
        };
        const onDrain = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        call.once('drain', onDrain);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
  };
}
