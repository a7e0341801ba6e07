import type * as grpc from '@grpc/grpc-js';
import { UnimplementedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RequestChecks } from './request-checks.js';
import { serverStreamHandler, unaryHandler, type RpcObserver, type ServerStreamRpc, type UnaryRpc } from './rpc.js';

/**
 * The domain-facing form of a generated `…ServiceHandlers` interface: each
 * RPC is a plain async function, and any of them may be left out.
 */
export type ServiceRpcs<Handlers> = {
  [Name in keyof Handlers as string extends Name ? never : Name]?: Handlers[Name] extends grpc.handleUnaryCall<infer Request, infer Response>
    ? UnaryRpc<Request, Response>
    : Handlers[Name] extends grpc.handleServerStreamingCall<infer Request, infer Message>
      ? ServerStreamRpc<Request, Message>
      : never;
};

/**
 * Wraps every RPC of a service in the instrumentation layer. RPCs without an
 * implementation answer UNIMPLEMENTED with their full name; walking the
 * service definition (not a hand-kept list) means an RPC added to the
 * vendored proto is covered the day the proto is refreshed.
 */
export function serviceHandlers<Handlers extends grpc.UntypedServiceImplementation>(
  definition: grpc.ServiceDefinition,
  rpcs: ServiceRpcs<Handlers>,
  log: Logger,
  checks: RequestChecks,
  observer: RpcObserver,
): Handlers {
  const implementations = rpcs as Record<string, ((...args: never[]) => Promise<unknown>) | undefined>;
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (method.requestStream) {
      throw new Error(`${method.path}: client-streaming RPCs are not part of CRI v1 and have no wrapper`);
    }
    const implementation =
      implementations[name] ??
      (async () => {
        throw new UnimplementedError(`${method.path} is not implemented by crion yet`);
      });
    const requestType = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name;
    if (requestType === undefined) throw new Error(`${method.path}: the service definition names no request type`);
    const checked = (request: unknown, ...rest: never[]) => {
      checks.check(requestType, request);
      return implementation(request as never, ...rest);
    };
    handlers[name] = method.responseStream
      ? serverStreamHandler(name, log, observer, checked as ServerStreamRpc<unknown, unknown>)
      : unaryHandler(name, log, observer, checked as UnaryRpc<unknown, unknown>);
  }
  return handlers as Handlers;
}
