import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FLAG_FIN, GoAwayStatus, RstStatus, serializeFrame, SpdyProtocolError } from '../../src/streaming/spdy/frames.js';
import { INITIAL_WINDOW, SpdySession, type SpdySessionOptions, type SpdyStream } from '../../src/streaming/spdy/session.js';
import { repoRoot } from '../helpers/repo.js';
import { Peer } from '../helpers/spdy-peer.js';
import { HeaderCompressor } from '../../src/streaming/spdy/header-compression.js';

/** Resolves on 'close' even when 'error' comes first, which events.once would reject on. */
function closeOf(session: SpdySession): Promise<void> {
  return new Promise((resolve) => session.once('close', resolve));
}

async function connect(t: ExecutionContext, options: SpdySessionOptions = {}): Promise<{ session: SpdySession; peer: Peer; streams: SpdyStream[] }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [socket] = await accepted;
  server.close();
  t.teardown(() => {
    client.destroy();
    socket.destroy();
  });
  const session = new SpdySession(socket, options);
  const streams: SpdyStream[] = [];
  session.on('stream', (stream) => streams.push(stream));
  return { session, peer: new Peer(client), streams };
}

async function streamNo(streams: SpdyStream[], peer: Peer, index: number): Promise<SpdyStream> {
  return peer.until(() => streams[index]);
}

test('a recorded client-go exec replays: four streams with their types, stdin, then resets and GOAWAY', async (t) => {
  const { session, peer, streams } = await connect(t);
  const stdin: Buffer[] = [];
  let stdinEnded = false;
  session.on('stream', (stream) => {
    stream.on('error', () => {});
    if (stream.headers.get('streamtype') === 'stdin') {
      stream.on('data', (c: Buffer) => stdin.push(c));
      stream.on('end', () => (stdinEnded = true));
    }
  });
  const goaway = once(session, 'goaway');
  const wire = readFileSync(path.join(repoRoot, '__test__', 'fixtures', 'spdy', 'plain.bin'));
  // Odd-sized pieces so frames and header blocks straddle writes.
  for (let at = 0; at < wire.length; at += 7) peer.socket.write(wire.subarray(at, at + 7));
  await goaway;
  t.deepEqual(
    streams.map((s) => [s.id, s.headers.get('streamtype')]),
    [
      [1, 'error'],
      [3, 'stdin'],
      [5, 'stdout'],
      [7, 'stderr'],
    ],
  );
  await peer.until(() => stdinEnded);
  t.is(Buffer.concat(stdin).toString(), 'hello from stdin\n');
  // The client reset streams 1, 5 and 7 and went away; stdin is half-closed until we end it, then the session ends the socket.
  t.is(session.streamCount, 1);
  streams[1]!.end();
  await peer.until(() => peer.ended);
  t.is(session.streamCount, 0);
});

test('a recorded exec whose client ignored our windows is still read in full (auto flow control)', async (t) => {
  const { session, peer } = await connect(t);
  let stdinBytes = 0;
  session.on('stream', (stream) => {
    stream.on('error', () => {});
    if (stream.headers.get('streamtype') === 'stdin') stream.on('data', (c: Buffer) => (stdinBytes += c.length));
  });
  peer.socket.write(readFileSync(path.join(repoRoot, '__test__', 'fixtures', 'spdy', 'big.bin')));
  await peer.until(() => stdinBytes === 120_000);
  t.pass();
});

test('reply sends SYN_REPLY with the headers; write and end send DATA then an empty FIN', async (t) => {
  const { peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'stdout' });
  const stream = await streamNo(streams, peer, 0);
  stream.reply({ 'x-answer': 'yes\0and more' });
  stream.end('output');
  await peer.frame('data', (f) => f.streamId === 1 && (f.flags & FLAG_FIN) !== 0);
  t.deepEqual(peer.replies.get(1), new Map([['x-answer', 'yes\0and more']]));
  const data = peer.of('data');
  t.deepEqual(
    data.map((f) => [f.data.toString(), f.flags]),
    [
      ['output', 0],
      ['', FLAG_FIN],
    ],
  );
  t.throws(() => stream.reply(), { message: /already been replied/ });
});

test('writing before reply sends an empty SYN_REPLY first', async (t) => {
  const { peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'error' });
  (await streamNo(streams, peer, 0)).write('x');
  await peer.frame('data');
  t.deepEqual(
    peer.received.map((f) => f.type),
    ['syn-reply', 'data'],
  );
  t.deepEqual(peer.replies.get(1), new Map());
});

test('half-close both ways: the peer FIN ends the readable side, we can still write, then the stream is gone', async (t) => {
  const { session, peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'stdin' });
  const stream = await streamNo(streams, peer, 0);
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  peer.send(
    { type: 'data', streamId: 1, flags: 0, data: Buffer.from('in') },
    { type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.from('put') },
  );
  await once(stream, 'end');
  t.is(Buffer.concat(chunks).toString(), 'input');
  t.is(session.streamCount, 1);
  stream.end('still writing');
  await peer.frame('data', (f) => (f.flags & FLAG_FIN) !== 0);
  t.is(session.streamCount, 0);
});

test('a SYN_STREAM with FLAG_FIN opens a stream whose readable side has already ended', async (t) => {
  const { peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'error' }, FLAG_FIN);
  const stream = await streamNo(streams, peer, 0);
  stream.resume();
  await once(stream, 'end');
  t.pass();
});

test("a writer blocked by the peer's windows resumes on WINDOW_UPDATE (enforce)", async (t) => {
  const { peer, streams } = await connect(t, { peerFlowControl: 'enforce' });
  peer.open(1, { streamtype: 'stdout' });
  const stream = await streamNo(streams, peer, 0);
  const total = 100 * 1024;
  const accepted = stream.write(Buffer.alloc(total, 'a'));
  t.false(accepted);
  await peer.until(() => peer.dataBytes(1) === INITIAL_WINDOW);
  await sleep(100);
  t.is(peer.dataBytes(1), INITIAL_WINDOW, 'nothing past the window');
  let drained = false;
  stream.once('drain', () => (drained = true));
  // The stream window alone is not enough: the session window is spent too.
  peer.send({ type: 'window-update', streamId: 1, delta: 50_000 });
  await sleep(100);
  t.is(peer.dataBytes(1), INITIAL_WINDOW);
  peer.send({ type: 'window-update', streamId: 0, delta: 50_000 });
  await peer.until(() => peer.dataBytes(1) === total);
  await peer.until(() => drained);
  t.true(peer.of('data').every((f) => f.data.length <= 32 * 1024));
});

test('SETTINGS_INITIAL_WINDOW_SIZE shrinks the send window of open streams (enforce)', async (t) => {
  const { peer, streams } = await connect(t, { peerFlowControl: 'enforce' });
  peer.open(1, { streamtype: 'stdout' });
  const stream = await streamNo(streams, peer, 0);
  peer.send({ type: 'settings', flags: 0, entries: [{ flags: 0, id: 7, value: 1000 }] });
  await sleep(50);
  stream.write(Buffer.alloc(5000));
  await peer.until(() => peer.dataBytes(1) === 1000);
  await sleep(100);
  t.is(peer.dataBytes(1), 1000);
});

test('auto: a peer that never sends WINDOW_UPDATE (spdystream) gets everything; once it does, its windows bind', async (t) => {
  const { peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'stdout' });
  const stream = await streamNo(streams, peer, 0);
  stream.write(Buffer.alloc(300 * 1024));
  await peer.until(() => peer.dataBytes(1) === 300 * 1024);
  // The stream window is now far below zero: an update that leaves it negative releases nothing.
  peer.send({ type: 'window-update', streamId: 1, delta: 1000 });
  await sleep(50);
  stream.write(Buffer.alloc(10));
  await sleep(100);
  t.is(peer.dataBytes(1), 300 * 1024);
});

test('DATA payloads are not copied, yet a writer may reuse its buffer once the write calls back', async (t) => {
  const { peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'stdout' });
  const stream = await streamNo(streams, peer, 0);
  // One buffer, refilled and written again from each callback, while the peer reads nothing at first, so
  // written frames wait in the socket's buffer: the session must not call back while that holds the buffer.
  const buffer = Buffer.alloc(100 * 1024);
  peer.socket.pause();
  let fill = 0;
  const next = (): void => {
    if (++fill === 20) return;
    buffer.fill(fill);
    stream.write(buffer, next);
  };
  stream.write(buffer, next);
  await sleep(200);
  peer.socket.resume();
  await peer.until(() => peer.dataBytes(1) === 20 * buffer.length);
  const received = Buffer.concat(peer.of('data').map((f) => f.data));
  for (let fill = 0; fill < 20; fill++) t.true(received.subarray(fill * buffer.length, (fill + 1) * buffer.length).every((byte) => byte === fill));
});

test('a slow reader returns no window credit; reading sends WINDOW_UPDATE for the stream and the session', async (t) => {
  const { peer, streams } = await connect(t, { peerFlowControl: 'enforce' });
  peer.open(1, { streamtype: 'stdin' });
  const stream = await streamNo(streams, peer, 0);
  for (let i = 0; i < 4; i++) peer.send({ type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(INITIAL_WINDOW / 4, i) });
  await peer.until(() => stream.readableLength === INITIAL_WINDOW);
  await sleep(100);
  t.deepEqual(peer.of('window-update'), []);
  stream.resume();
  await peer.until(() => peer.of('window-update').length === 2);
  const updates = peer.of('window-update');
  t.deepEqual(updates.map((u) => u.streamId).sort(), [0, 1]);
  t.true(updates.every((u) => u.delta >= INITIAL_WINDOW / 2 && u.delta <= INITIAL_WINDOW));
});

test('enforce: DATA past our receive window resets the stream with FLOW_CONTROL_ERROR', async (t) => {
  const { session, peer, streams } = await connect(t, { peerFlowControl: 'enforce' });
  const errors: SpdyProtocolError[] = [];
  session.on('stream-error', (e) => errors.push(e));
  peer.open(1, { streamtype: 'stdin' });
  const stream = await streamNo(streams, peer, 0);
  stream.on('error', () => {});
  peer.send(
    { type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(INITIAL_WINDOW) },
    { type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(1) },
  );
  const rst = await peer.frame('rst-stream');
  t.deepEqual(rst, { type: 'rst-stream', streamId: 1, status: RstStatus.FlowControlError });
  t.is(errors[0]?.streamId, 1);
  t.true(stream.destroyed);
});

test('auto: a peer ignoring our window is stopped by TCP once maxBufferedBytes is unread', async (t) => {
  const { peer, streams } = await connect(t, { maxBufferedBytes: 256 * 1024 });
  peer.open(1, { streamtype: 'stdin' });
  const stream = await streamNo(streams, peer, 0);
  for (let i = 0; i < 16; i++) peer.send({ type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(32 * 1024) });
  peer.send({ type: 'ping', id: 1 });
  await sleep(200);
  t.true(stream.readableLength <= 256 * 1024 + 64 * 1024, `buffered ${stream.readableLength}`);
  t.deepEqual(peer.of('ping'), [], 'the session stopped reading before the PING');
  stream.resume();
  await peer.frame('ping');
  t.pass();
});

test('PING from the client is echoed; an even ID (an answer to a ping we never sent) is not', async (t) => {
  const { peer } = await connect(t);
  peer.send({ type: 'ping', id: 2 }, { type: 'ping', id: 7 });
  await peer.frame('ping');
  await sleep(50);
  t.deepEqual(peer.of('ping'), [{ type: 'ping', id: 7 }]);
});

test('RST_STREAM from the peer destroys that stream only', async (t) => {
  const { session, peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'data' });
  peer.open(3, { streamtype: 'data' });
  const [first, second] = [await streamNo(streams, peer, 0), await streamNo(streams, peer, 1)];
  let firstErrored = false;
  first.on('error', () => (firstErrored = true));
  peer.send({ type: 'rst-stream', streamId: 1, status: RstStatus.Cancel });
  await once(first, 'close');
  t.false(firstErrored, 'CANCEL is a normal end, not an error');
  t.is(first.resetStatus, RstStatus.Cancel);
  t.is(session.streamCount, 1);
  second.end('alive');
  await peer.frame('data', (f) => f.streamId === 3 && f.data.toString() === 'alive');
  peer.open(5, { streamtype: 'data' });
  const third = await streamNo(streams, peer, 2);
  const error = once(third, 'error') as Promise<[SpdyProtocolError]>;
  peer.send({ type: 'rst-stream', streamId: 5, status: RstStatus.InternalError });
  t.is((await error)[0].status, RstStatus.InternalError);
});

test('stream.reset sends RST_STREAM and later DATA for it is dropped quietly', async (t) => {
  const { session, peer, streams } = await connect(t);
  const streamErrors: unknown[] = [];
  session.on('stream-error', (e) => streamErrors.push(e));
  peer.open(1, { streamtype: 'data' });
  const stream = await streamNo(streams, peer, 0);
  stream.reset(RstStatus.RefusedStream);
  t.deepEqual(await peer.frame('rst-stream'), { type: 'rst-stream', streamId: 1, status: RstStatus.RefusedStream });
  peer.send({ type: 'data', streamId: 1, flags: 0, data: Buffer.from('late') }, { type: 'ping', id: 1 });
  await peer.frame('ping');
  t.is(peer.of('rst-stream').length, 1);
  t.deepEqual(streamErrors, []);
});

test('DATA on a stream never opened: RST_STREAM(INVALID_STREAM) and a stream-error, the session lives on', async (t) => {
  const { session, peer } = await connect(t);
  const streamError = once(session, 'stream-error') as Promise<[SpdyProtocolError]>;
  peer.send({ type: 'data', streamId: 9, flags: 0, data: Buffer.from('?') });
  t.deepEqual(await peer.frame('rst-stream'), { type: 'rst-stream', streamId: 9, status: RstStatus.InvalidStream });
  t.is((await streamError)[0].streamId, 9);
  peer.send({ type: 'ping', id: 1 });
  await peer.frame('ping');
});

for (const [name, act] of [
  ['a frame of version 2', (peer: Peer) => peer.socket.write(Buffer.from([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]))],
  ['an even stream ID from the client', (peer: Peer) => peer.open(2, { streamtype: 'error' })],
  [
    'stream IDs going backwards',
    (peer: Peer) => {
      peer.open(5, { streamtype: 'error' });
      peer.open(3, { streamtype: 'stdin' });
    },
  ],
  [
    'a header block that does not inflate',
    (peer: Peer) =>
      peer.send({ type: 'syn-stream', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, flags: 0, headerBlock: Buffer.from('junk!!') }),
  ],
  ['a RST_STREAM of the wrong length', (peer: Peer) => peer.socket.write(Buffer.from([0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1]))],
] as const) {
  test(`${name}: GOAWAY(PROTOCOL_ERROR), an error event, and the session closes`, async (t) => {
    const { session, peer, streams } = await connect(t);
    const errored = once(session, 'error') as Promise<[SpdyProtocolError]>;
    const closed = closeOf(session);
    act(peer);
    const [error] = await errored;
    t.is(error.scope, 'session');
    await closed;
    const goaway = await peer.frame('goaway');
    t.is(goaway.status, GoAwayStatus.ProtocolError);
    t.is(goaway.lastGoodStreamId, streams.at(-1)?.id ?? 0);
    await peer.until(() => peer.ended);
  });
}

test('a session with no error listener logs a protocol error instead of throwing', async (t) => {
  const server = await connect(t);
  server.session.removeAllListeners('error');
  const closed = closeOf(server.session);
  server.peer.socket.write(Buffer.from([0x80, 0x09, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]));
  await closed;
  t.pass();
});

test('GOAWAY from the peer: no new streams, and the socket ends once the open ones are done', async (t) => {
  const { session, peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'data' });
  const stream = await streamNo(streams, peer, 0);
  const goaway = once(session, 'goaway');
  peer.send({ type: 'goaway', lastGoodStreamId: 0, status: GoAwayStatus.Ok });
  await goaway;
  peer.open(3, { streamtype: 'data' });
  t.deepEqual(await peer.frame('rst-stream'), { type: 'rst-stream', streamId: 3, status: RstStatus.RefusedStream });
  t.is(streams.length, 1);
  t.false(peer.ended);
  peer.send({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) });
  stream.resume();
  stream.end();
  await peer.until(() => peer.ended);
});

test('close() sends GOAWAY(OK) naming the last stream, refuses new ones, and ends after the open stream', async (t) => {
  const { session, peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'data' });
  const stream = await streamNo(streams, peer, 0);
  session.close();
  t.deepEqual(await peer.frame('goaway'), { type: 'goaway', lastGoodStreamId: 1, status: GoAwayStatus.Ok });
  peer.open(3, { streamtype: 'data' });
  await peer.frame('rst-stream', (f) => f.streamId === 3);
  stream.end('bye');
  peer.send({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) });
  stream.resume();
  const closed = once(session, 'close');
  await peer.until(() => peer.ended);
  peer.socket.end();
  await closed;
  t.is(peer.dataBytes(1), 3);
});

test('destroy(err) tears down streams and the socket and reports the error', async (t) => {
  const { session, peer, streams } = await connect(t);
  peer.open(1, { streamtype: 'data' });
  const stream = await streamNo(streams, peer, 0);
  const errored = once(session, 'error');
  session.destroy(new Error('idle timeout'));
  t.is(((await errored)[0] as Error).message, 'idle timeout');
  t.true(stream.destroyed);
  await peer.until(() => peer.socket.destroyed || peer.ended);
});

test('bytes the HTTP server read past the upgrade are parsed before the socket', async (t) => {
  const compressor = new HeaderCompressor();
  const first = serializeFrame({
    type: 'syn-stream',
    streamId: 1,
    associatedStreamId: 0,
    priority: 0,
    slot: 0,
    flags: 0,
    headerBlock: compressor.compress([['streamtype', 'error']]),
  });
  const { peer, streams } = await connect(t, { initialBuffered: first.subarray(0, 10) });
  peer.socket.write(first.subarray(10));
  const stream = await streamNo(streams, peer, 0);
  t.is(stream.headers.get('streamtype'), 'error');
});
