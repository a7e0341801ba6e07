import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { CriServer } from '../../src/cri/server.js';
import { loadCriPackage } from '../../src/cri/proto.js';
import { CancelledError, NotFoundError } from '../../src/errors.js';
import { createLogger, type LogLevel } from '../../src/log/logger.js';
import type { ServiceRpcs } from '../../src/cri/services.js';
import type { RpcObserver } from '../../src/cri/rpc.js';
import type { RuntimeServiceHandlers } from '../../src/generated/runtime/v1/RuntimeService.js';
import type { ImageServiceHandlers } from '../../src/generated/runtime/v1/ImageService.js';

/** A generated client method: unary ones take a callback after the request, streaming ones return the stream. */
type GrpcMethod = (request: object, ...rest: unknown[]) => unknown;

interface Harness {
  server: CriServer;
  runtime: grpc.Client & Record<string, GrpcMethod>;
  image: grpc.Client & Record<string, GrpcMethod>;
  logLines: () => Array<Record<string, unknown>>;
}

async function startServer(
  t: { teardown(fn: () => Promise<void> | void): void },
  rpcs: { runtime?: ServiceRpcs<RuntimeServiceHandlers>; image?: ServiceRpcs<ImageServiceHandlers> },
  level: LogLevel = 'debug',
  observer?: RpcObserver,
): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-server-'));
  const output = new PassThrough();
  let logged = '';
  output.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const log = createLogger({ level, format: 'json', destination: output });
  const listen = `unix://${path.join(dir, 'crion.sock')}`;
  const server = await CriServer.start({ listen, log, runtime: rpcs.runtime ?? {}, image: rpcs.image ?? {}, observer });
  const cri = loadCriPackage();
  const runtime = new cri.RuntimeService(listen, grpc.credentials.createInsecure()) as unknown as Harness['runtime'];
  const image = new cri.ImageService(listen, grpc.credentials.createInsecure()) as unknown as Harness['image'];
  t.teardown(async () => {
    runtime.close();
    image.close();
    await server.shutdown(1000);
    await rm(dir, { recursive: true, force: true });
  });
  const logLines = () =>
    logged
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { server, runtime, image, logLines };
}

function call<Response>(client: Harness['runtime'], method: string, request: object): Promise<Response> {
  return new Promise((resolve, reject) => {
    client[method]!(request, (error: grpc.ServiceError | null, response: Response) => (error ? reject(error) : resolve(response)));
  });
}

test('an implemented RPC answers, and its call is logged with rpc, outcome and latency', async (t) => {
  const { runtime, logLines } = await startServer(t, {
    runtime: { Version: async () => ({ version: '0.1.0', runtimeName: 'fake', runtimeVersion: '1', runtimeApiVersion: 'v1' }) },
  });
  const response = await call<{ runtimeName: string }>(runtime, 'Version', {});
  t.is(response.runtimeName, 'fake');
  const line = logLines().find((entry) => entry.rpc === 'Version');
  t.like(line, { outcome: 'ok', msg: 'rpc finished', level: 'debug' });
  t.is(typeof line?.latencyMs, 'number');
});

test("the observer hears each call's RPC, latency and status name: null for a success, the code's name for a failure", async (t) => {
  const heard: Array<[string, number, string | null]> = [];
  const { runtime, image } = await startServer(
    t,
    {
      runtime: {
        Version: async () => ({ version: '0.1.0', runtimeName: 'fake', runtimeVersion: '1', runtimeApiVersion: 'v1' }),
        ContainerStatus: async () => {
          throw new NotFoundError('container "x" not found');
        },
      },
    },
    'debug',
    { finished: (rpcName, seconds, code) => heard.push([rpcName, seconds, code]) },
  );
  await call(runtime, 'Version', {});
  await t.throwsAsync(call(runtime, 'ContainerStatus', { containerId: 'x' }));
  await t.throwsAsync(call(image, 'ImageFsInfo', {}));
  t.deepEqual(
    heard.map(([rpcName, , code]) => [rpcName, code]),
    [
      ['Version', null],
      ['ContainerStatus', 'NOT_FOUND'],
      ['ImageFsInfo', 'UNIMPLEMENTED'],
    ],
  );
  t.true(heard.every(([, seconds]) => seconds >= 0 && seconds < 5));
});

test('an RPC without an implementation answers UNIMPLEMENTED naming the RPC', async (t) => {
  const { runtime, image } = await startServer(t, {});
  const error = await t.throwsAsync<grpc.ServiceError>(call(runtime, 'ListPodSandbox', {}));
  t.is(error.code, grpc.status.UNIMPLEMENTED);
  t.regex(error.details, /runtime\.v1\.RuntimeService\/ListPodSandbox is not implemented/);
  const imageError = await t.throwsAsync<grpc.ServiceError>(call(image, 'ImageFsInfo', {}));
  t.is(imageError.code, grpc.status.UNIMPLEMENTED);
  t.regex(imageError.details, /ImageService\/ImageFsInfo/);
});

test('a server-streaming RPC without an implementation answers UNIMPLEMENTED too', async (t) => {
  const { runtime } = await startServer(t, {});
  const stream = runtime.GetContainerEvents!({}) as grpc.ClientReadableStream<unknown>;
  const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  t.is(error.code, grpc.status.UNIMPLEMENTED);
  t.regex(error.details, /GetContainerEvents/);
});

test('a domain error keeps its message and code; the IDs of the request are logged', async (t) => {
  const { runtime, logLines } = await startServer(t, {
    runtime: {
      ContainerStatus: async (request) => {
        throw new NotFoundError(`container ${request.containerId} not found`);
      },
    },
  });
  const error = await t.throwsAsync<grpc.ServiceError>(call(runtime, 'ContainerStatus', { containerId: 'abc' }));
  t.is(error.code, grpc.status.NOT_FOUND);
  t.is(error.details, 'container abc not found');
  t.like(
    logLines().find((entry) => entry.rpc === 'ContainerStatus'),
    { containerId: 'abc', outcome: 'error', level: 'warn', code: grpc.status.NOT_FOUND },
  );
});

test('an unexpected error becomes UNKNOWN; its detail reaches the log only', async (t) => {
  const { runtime, logLines } = await startServer(t, {
    runtime: {
      Status: async () => {
        throw new TypeError('cannot read properties of undefined (secret detail)');
      },
    },
  });
  const error = await t.throwsAsync<grpc.ServiceError>(call(runtime, 'Status', {}));
  t.is(error.code, grpc.status.UNKNOWN);
  t.notRegex(error.details, /secret detail/);
  const line = logLines().find((entry) => entry.rpc === 'Status');
  t.is(line?.level, 'error');
  t.regex(JSON.stringify(line?.err), /secret detail/);
});

test('registry credentials in a request never reach the log, even at trace level', async (t) => {
  const { image, logLines } = await startServer(t, { image: { PullImage: async () => ({ imageRef: 'sha256:0' }) } }, 'trace');
  await call(image, 'PullImage', {
    image: { image: 'example.com/app:1' },
    auth: { username: 'alice', password: 'hunter2', auth: 'YWxpY2U6aHVudGVyMg==', identityToken: 'id-tok', registryToken: 'reg-tok' },
  });
  const logged = JSON.stringify(logLines());
  t.regex(logged, /example\.com\/app:1/, 'the request itself was logged');
  for (const secret of ['hunter2', 'YWxpY2U6aHVudGVyMg==', 'id-tok', 'reg-tok']) {
    t.false(logged.includes(secret), `${secret} leaked into the log`);
  }
});

test('the socket is created with mode 0660', async (t) => {
  const { server } = await startServer(t, {});
  t.is((await stat(server.socketPath)).mode & 0o777, 0o660);
});

test('shutdown lets an in-flight call finish, then removes the socket', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inFlight = new Promise<void>((resolve) => (entered = resolve));
  const { server, runtime } = await startServer(t, {
    runtime: {
      Version: async () => {
        entered();
        await released;
        return { version: '0.1.0', runtimeName: 'slow', runtimeVersion: '1', runtimeApiVersion: 'v1' };
      },
    },
  });
  const answer = call<{ runtimeName: string }>(runtime, 'Version', {});
  await inFlight;
  const shutdown = server.shutdown(5000);
  release();
  t.is((await answer).runtimeName, 'slow');
  t.is(await shutdown, 'graceful');
  await t.throwsAsync(stat(server.socketPath), { code: 'ENOENT' });
});

test('a request with an enum number the proto does not name, or a NUL in a string, is refused before its handler runs', async (t) => {
  let handled = 0;
  const { runtime } = await startServer(t, {
    runtime: {
      RunPodSandbox: async () => {
        handled += 1;
        return { podSandboxId: 'made' };
      },
      ExecSync: async () => {
        handled += 1;
        return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0 };
      },
    },
  });
  const metadata = { name: 'p', namespace: 'n', uid: 'u' };
  const badProtocol = await t.throwsAsync<grpc.ServiceError>(
    call(runtime, 'RunPodSandbox', { config: { metadata, portMappings: [{ protocol: 7, containerPort: 80, hostPort: 8080 }] } }),
  );
  t.is(badProtocol.code, grpc.status.INVALID_ARGUMENT);
  t.is(badProtocol.details, 'config.port_mappings[0].protocol: 7 is not a Protocol value');
  const nulArgument = await t.throwsAsync<grpc.ServiceError>(call(runtime, 'ExecSync', { containerId: 'c', cmd: ['sh', '-c', 'true\0'] }));
  t.is(nulArgument.code, grpc.status.INVALID_ARGUMENT);
  t.is(nulArgument.details, 'cmd[2] contains a NUL byte');
  t.is(handled, 0);
  t.deepEqual(await call(runtime, 'RunPodSandbox', { config: { metadata } }), { podSandboxId: 'made' });
});

test("a call the client cancels aborts its handler's signal with a CancelledError; an answered call's signal stays quiet", async (t) => {
  let entered!: () => void;
  const inFlight = new Promise<void>((resolve) => (entered = resolve));
  let abortedWith!: (reason: unknown) => void;
  const aborted = new Promise<unknown>((resolve) => (abortedWith = resolve));
  const answered: AbortSignal[] = [];
  const { runtime } = await startServer(t, {
    runtime: {
      Version: async (_request, context) => {
        answered.push(context.signal);
        return { version: '0.1.0', runtimeName: 'quick', runtimeVersion: '1', runtimeApiVersion: 'v1' };
      },
      Status: async (_request, context) => {
        entered();
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
        abortedWith(context.signal.reason);
        throw context.signal.reason;
      },
    },
  });
  await call(runtime, 'Version', {});
  const pending = runtime.Status!({}, () => undefined) as grpc.ClientUnaryCall;
  await inFlight;
  pending.cancel();
  const reason = await aborted;
  t.true(reason instanceof CancelledError);
  t.regex((reason as Error).message, /Status was cancelled by the client/);
  t.false(answered[0]!.aborted, 'the stream of an answered call closing is no cancellation');
});
