import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FrameReader, MAX_PAYLOAD_BYTES, Multiplex, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN, encodeFrames } from '../../src/nri/multiplex.js';
import { SyncGate } from '../../src/nri/sync-gate.js';
import {
  CODE_DEADLINE_EXCEEDED,
  CODE_UNAVAILABLE,
  CODE_UNIMPLEMENTED,
  MESSAGE_REQUEST,
  MessageReader,
  TtrpcChannel,
  TtrpcError,
  type TtrpcHandler,
  decodeRequest,
  decodeResponse,
  encodeMessage,
  encodeRequest,
  encodeResponse,
} from '../../src/nri/ttrpc.js';

/** Both ends of a unix socket, as an NRI plugin and crion hold them. */
async function socketPair(t: { teardown(fn: () => Promise<void> | void): void }): Promise<[net.Socket, net.Socket]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-nri-wire-'));
  const socketPath = path.join(dir, 's');
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const client = net.connect(socketPath);
  const serverSide = await accepted;
  t.teardown(async () => {
    client.destroy();
    serverSide.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  return [client, serverSide];
}

test('mux frames: 8-byte header (conn ID, length, big-endian), parsed however the bytes are split', (t) => {
  const wire = Buffer.concat([
    ...encodeFrames(1, Buffer.from('hello')),
    ...encodeFrames(2, Buffer.from('')),
    ...encodeFrames(7, Buffer.from('world!')),
  ]);
  t.deepEqual([...wire.subarray(0, 8)], [0, 0, 0, 1, 0, 0, 0, 5]);
  const reader = new FrameReader();
  const frames = [];
  for (const byte of wire) frames.push(...reader.push(Buffer.from([byte])));
  t.deepEqual(
    frames.map(({ connId, payload }) => [connId, payload.toString()]),
    [
      [1, 'hello'],
      [2, ''],
      [7, 'world!'],
    ],
  );
});

test('mux frames: a write longer than the payload limit is split into several frames', (t) => {
  const data = Buffer.alloc(MAX_PAYLOAD_BYTES + 10, 7);
  const frames = new FrameReader().push(Buffer.concat(encodeFrames(3, data)));
  t.deepEqual(
    frames.map((frame) => frame.payload.length),
    [MAX_PAYLOAD_BYTES, 10],
  );
  t.true(Buffer.concat(frames.map((frame) => frame.payload)).equals(data));
});

test('mux frames: a length over the limit is refused, not buffered', (t) => {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(MAX_PAYLOAD_BYTES + 1, 4);
  t.throws(() => new FrameReader().push(header), { message: /exceeds/ });
});

test('Multiplex: logical connections round-trip over one socket, each getting only its own bytes', async (t) => {
  const [a, b] = await socketPair(t);
  const left = new Multiplex(a);
  const right = new Multiplex(b);
  const received: string[] = [];
  right.open(PLUGIN_SERVICE_CONN).on('data', (chunk: Buffer) => received.push(`1:${chunk.toString()}`));
  const second = new Promise<string>((resolve) => right.open(RUNTIME_SERVICE_CONN).once('data', (chunk: Buffer) => resolve(chunk.toString())));
  left.open(PLUGIN_SERVICE_CONN).write('to the plugin service');
  left.open(RUNTIME_SERVICE_CONN).write('to the runtime service');
  t.is(await second, 'to the runtime service');
  t.deepEqual(received, ['1:to the plugin service']);
});

test('Multiplex: the end of the trunk closes every logical connection and is reported once', async (t) => {
  const [a, b] = await socketPair(t);
  let reported = 0;
  const ended = new Promise<void>((resolve) => {
    const mux = new Multiplex(b, () => {
      reported += 1;
      resolve();
    });
    mux.open(PLUGIN_SERVICE_CONN);
  });
  a.destroy();
  await ended;
  t.is(reported, 1);
});

test('ttrpc messages: 10-byte header (length, stream ID, type, flags), parsed however the bytes are split', (t) => {
  const request = encodeRequest({ service: 'svc', method: 'M', payload: Buffer.from([1, 2, 3]), timeoutNano: 5_000_000 });
  const wire = Buffer.concat([
    encodeMessage({ streamId: 3, type: MESSAGE_REQUEST, flags: 0, data: request }),
    encodeMessage({ streamId: 5, type: 2, flags: 0, data: Buffer.alloc(0) }),
  ]);
  t.deepEqual([...wire.subarray(0, 10)], [0, 0, 0, request.length, 0, 0, 0, 3, 1, 0]);
  const reader = new MessageReader();
  const messages = [...reader.push(wire.subarray(0, 7)), ...reader.push(wire.subarray(7, 20)), ...reader.push(wire.subarray(20))];
  t.deepEqual(
    messages.map((message) => [message.streamId, message.type]),
    [
      [3, 1],
      [5, 2],
    ],
  );
  t.deepEqual(decodeRequest(messages[0]!.data), { service: 'svc', method: 'M', payload: Buffer.from([1, 2, 3]), timeoutNano: 5_000_000 });
});

test('ttrpc responses: an OK response has no status; an error keeps its code and message', (t) => {
  t.deepEqual(decodeResponse(encodeResponse({ status: null, payload: Buffer.from('x') })), { status: null, payload: Buffer.from('x') });
  t.deepEqual(decodeResponse(encodeResponse({ status: { code: 2, message: 'no' }, payload: Buffer.alloc(0) })), {
    status: { code: 2, message: 'no' },
    payload: Buffer.alloc(0),
  });
});

test('TtrpcChannel: calls over a multiplexed connection get the answer, the handler error, or UNIMPLEMENTED', async (t) => {
  const [a, b] = await socketPair(t);
  const server = new TtrpcChannel(
    new Multiplex(b).open(PLUGIN_SERVICE_CONN),
    new Map<string, TtrpcHandler>([
      ['svc/Echo', (payload: Buffer) => Promise.resolve(Buffer.concat([Buffer.from('echo:'), payload]))],
      ['svc/Fail', () => Promise.reject(new Error('induced failure'))],
    ]),
  );
  t.truthy(server);
  const client = new TtrpcChannel(new Multiplex(a).open(PLUGIN_SERVICE_CONN));
  // Concurrent calls on odd stream IDs, answered each on its own.
  const [one, two] = await Promise.all([client.call('svc', 'Echo', Buffer.from('1'), 1000), client.call('svc', 'Echo', Buffer.from('2'), 1000)]);
  t.is(one.toString(), 'echo:1');
  t.is(two.toString(), 'echo:2');
  await t.throwsAsync(client.call('svc', 'Fail', Buffer.alloc(0), 1000), { instanceOf: TtrpcError, message: 'induced failure' });
  const missing = await t.throwsAsync(client.call('svc', 'Nope', Buffer.alloc(0), 1000), { instanceOf: TtrpcError });
  t.is(missing.code, CODE_UNIMPLEMENTED);
});

test('TtrpcChannel: a call without an answer times out, and a closed connection fails what is pending', async (t) => {
  const [a, b] = await socketPair(t);
  let release: () => void = () => {};
  const server = new TtrpcChannel(
    new Multiplex(b).open(PLUGIN_SERVICE_CONN),
    new Map<string, TtrpcHandler>([['svc/Hang', () => new Promise<Buffer>((resolve) => (release = () => resolve(Buffer.alloc(0))))]]),
  );
  const client = new TtrpcChannel(new Multiplex(a).open(PLUGIN_SERVICE_CONN));
  const late = await t.throwsAsync(client.call('svc', 'Hang', Buffer.alloc(0), 50), { instanceOf: TtrpcError });
  t.is(late.code, CODE_DEADLINE_EXCEEDED);
  release();
  const pending = client.call('svc', 'Hang', Buffer.alloc(0), 5000);
  server.close(new Error('gone'));
  a.destroy();
  t.is((await t.throwsAsync(pending, { instanceOf: TtrpcError })).code, CODE_UNAVAILABLE);
  t.is((await t.throwsAsync(client.call('svc', 'Hang', Buffer.alloc(0), 5000), { instanceOf: TtrpcError })).code, CODE_UNAVAILABLE);
});

test('SyncGate: a Synchronize waits for the creates in progress, and creates that come after it wait for it', async (t) => {
  const gate = new SyncGate();
  const order: string[] = [];
  let finishCreate: () => void = () => {};
  const create = gate.shared(async () => {
    order.push('create 1 begins');
    await new Promise<void>((resolve) => (finishCreate = resolve));
    order.push('create 1 ends');
  });
  const sync = gate.exclusive(async () => {
    order.push('synchronize');
    await Promise.resolve();
  });
  const later = gate.shared(async () => {
    order.push('create 2');
    await Promise.resolve();
  });
  await Promise.resolve();
  finishCreate();
  await Promise.all([create, sync, later]);
  t.deepEqual(order, ['create 1 begins', 'create 1 ends', 'synchronize', 'create 2']);
});
