import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from '../../src/cri/proto.js';
import { startDaemon } from '../helpers/daemon.js';

/**
 * Every RPC of the vendored CRI proto does its job: none answers
 * UNIMPLEMENTED. Each is called with an empty request, which a real handler
 * answers with a result or a precise refusal (INVALID_ARGUMENT, NOT_FOUND);
 * the list of RPCs comes from the service definitions, so one added by a
 * proto refresh is checked the day it arrives.
 */

const cri = loadCriPackage();

/** A server stream that has not ended by then is serving (GetContainerEvents never ends); it is cancelled. */
const STREAM_SETTLE_MS = 2_000;

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function unaryCode(client: AnyClient, name: string): Promise<grpc.status> {
  return new Promise((resolve) => {
    client[name]!.call(client, {}, { deadline: Date.now() + 30_000 }, (error: grpc.ServiceError | null) => resolve(error?.code ?? grpc.status.OK));
  });
}

function streamCode(client: AnyClient, name: string): Promise<grpc.status> {
  return new Promise((resolve) => {
    const stream = client[name]!.call(client, {}) as grpc.ClientReadableStream<unknown>;
    const timer = setTimeout(() => stream.cancel(), STREAM_SETTLE_MS);
    stream.on('data', () => undefined);
    stream.on('status', (status: grpc.StatusObject) => {
      clearTimeout(timer);
      resolve(status.code);
    });
    stream.on('error', () => undefined);
  });
}

test('no RPC of the vendored proto answers UNIMPLEMENTED', async (t) => {
  const daemon = await startDaemon(t);
  const services: Array<[string, AnyClient, grpc.ServiceDefinition]> = [
    [
      'RuntimeService',
      new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure()) as unknown as AnyClient,
      cri.RuntimeService.service,
    ],
    ['ImageService', new cri.ImageService(daemon.endpoint, grpc.credentials.createInsecure()) as unknown as AnyClient, cri.ImageService.service],
  ];
  const unimplemented: string[] = [];
  let called = 0;
  for (const [service, client, definition] of services) {
    for (const [name, method] of Object.entries(definition)) {
      const code = method.responseStream ? await streamCode(client, name) : await unaryCode(client, name);
      called += 1;
      if (code === grpc.status.UNIMPLEMENTED) unimplemented.push(`${service}/${name}`);
    }
    client.close();
  }
  t.deepEqual(unimplemented, []);
  // The walk saw the whole of cri-api v0.37: 37 runtime and 6 image RPCs.
  t.is(called, 43);
});
