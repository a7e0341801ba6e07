/**
 * attachMonitor against a fake monitor on a unix socket: the handshake, the
 * framing in both directions, backpressure, and how a session ends.
 */

import test from 'ava';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError, UnavailableError } from '../../src/errors.js';
import { attachMonitor, encodeFrame, FRAME, FrameDecoder, type AttachOutput, type MonitorAttachment } from '../../src/container/monitor-attach.js';

interface FakeMonitor {
  readonly stateDir: string;
  /** The next connection, once it has sent its command line; the bytes after it are in `rest`. */
  connection(): Promise<{ socket: Socket; command: string; rest: Buffer }>;
}

async function fakeMonitor(t: { teardown(fn: () => Promise<void> | void): void }): Promise<FakeMonitor> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'crion-fake-attach-'));
  const waiting: Array<(connection: { socket: Socket; command: string; rest: Buffer }) => void> = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(0x0a);
      if (newline < 0) return;
      socket.off('data', onData);
      socket.pause();
      waiting.shift()?.({ socket, command: received.subarray(0, newline).toString(), rest: received.subarray(newline + 1) });
    };
    socket.on('data', onData);
  });
  server.listen(path.join(stateDir, 'ctl'));
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  return { stateDir, connection: () => new Promise((resolve) => waiting.push(resolve)) };
}

async function collect(attachment: MonitorAttachment): Promise<AttachOutput[]> {
  const output: AttachOutput[] = [];
  for await (const item of attachment.output) output.push(item as AttachOutput);
  return output;
}

/** Reads frames the client sent until `count` have arrived. */
async function framesFrom(socket: Socket, rest: Buffer, count: number): Promise<Array<{ kind: number; payload: Buffer }>> {
  const decoder = new FrameDecoder();
  const frames = decoder.push(rest);
  socket.resume();
  while (frames.length < count) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    frames.push(...decoder.push(chunk));
  }
  return frames;
}

test('the decoder finds frames whatever the chunks they come in', (t) => {
  const bytes = Buffer.concat([
    encodeFrame(FRAME.stdout, Buffer.from('one')),
    encodeFrame(FRAME.stderr),
    encodeFrame(FRAME.stdout, Buffer.from('three')),
  ]);
  for (const step of [1, 2, 4, 5, 6, bytes.length]) {
    const decoder = new FrameDecoder();
    const frames = [];
    for (let offset = 0; offset < bytes.length; offset += step) frames.push(...decoder.push(bytes.subarray(offset, offset + step)));
    t.deepEqual(
      frames.map((frame) => [frame.kind, frame.payload.toString()]),
      [
        [FRAME.stdout, 'one'],
        [FRAME.stderr, ''],
        [FRAME.stdout, 'three'],
      ],
      `step ${step}`,
    );
    t.is(decoder.buffered, 0);
  }
});

test('output arrives as stream-tagged buffers and ends after the exit frame', async (t) => {
  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  const { socket, command } = await monitor.connection();
  t.is(command, 'attach');
  const exit = { exitCode: 3, signal: null, oomKilled: false, exitedAt: '2026-11-29T11:43:49.854232227Z' };
  // The first frame comes in the same write as the answer.
  socket.write(Buffer.concat([Buffer.from('ok\n'), encodeFrame(FRAME.stdout, Buffer.from('hello '))]));
  const attachment = await attaching;
  const stderr = encodeFrame(FRAME.stderr, Buffer.from('oops\n'));
  socket.write(stderr.subarray(0, 3));
  socket.write(Buffer.concat([stderr.subarray(3), encodeFrame(FRAME.stdout, Buffer.from('world\n'))]));
  socket.end(encodeFrame(FRAME.exit, Buffer.from(JSON.stringify(exit))));

  const output = await collect(attachment);
  t.deepEqual(
    output.map((item) => [item.stream, item.data.toString()]),
    [
      ['stdout', 'hello '],
      ['stderr', 'oops\n'],
      ['stdout', 'world\n'],
    ],
  );
  t.deepEqual(await attachment.exited, exit);
});

test('stdin, close-stdin and resize go out as frames', async (t) => {
  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  const { socket, rest } = await monitor.connection();
  socket.write('ok\n');
  const attachment = await attaching;
  t.true(attachment.writeStdin(Buffer.from('typed')));
  t.true(attachment.writeStdin(Buffer.alloc(0)), 'an empty write sends nothing');
  attachment.resize(24, 300);
  attachment.closeStdin();
  const frames = await framesFrom(socket, rest, 3);
  t.deepEqual(
    frames.map((frame) => [frame.kind, [...frame.payload]]),
    [
      [FRAME.stdin, [...Buffer.from('typed')]],
      [FRAME.resize, [0, 24, 1, 44]],
      [FRAME.closeStdin, []],
    ],
  );
  t.throws(() => attachment.resize(-1, 80), { instanceOf: InvalidArgumentError });
  t.throws(() => attachment.resize(24, 70000), { instanceOf: InvalidArgumentError });
  attachment.detach();
});

test('stdin the monitor does not read yet holds the writer back until drain', async (t) => {
  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  const { socket, rest } = await monitor.connection();
  socket.write('ok\n');
  const attachment = await attaching;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let writes = 0;
  while (attachment.writeStdin(chunk)) writes += 1;
  t.true(writes < 100, 'the socket never pushed back');
  const drained = once(attachment, 'drain');
  const frames = await framesFrom(socket, rest, writes + 1);
  await drained;
  t.is(
    frames.reduce((total, frame) => total + frame.payload.length, 0),
    (writes + 1) * chunk.length,
  );
  attachment.detach();
});

test('detaching ends the output without an exit, and stdin after it is refused', async (t) => {
  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  const { socket } = await monitor.connection();
  socket.write(Buffer.concat([Buffer.from('ok\n'), encodeFrame(FRAME.stdout, Buffer.from('before'))]));
  const attachment = await attaching;
  const output = collect(attachment);
  const closed = once(socket, 'close');
  socket.resume();
  attachment.detach();
  t.deepEqual(
    (await output).map((item) => item.data.toString()),
    ['before'],
  );
  t.is(await attachment.exited, null);
  await closed;
  t.throws(() => attachment.writeStdin(Buffer.from('x')), { instanceOf: FailedPreconditionError, message: 'the container is not running' });
});

test("the monitor's error frames are events", async (t) => {
  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  const { socket } = await monitor.connection();
  socket.write('ok\n');
  const attachment = await attaching;
  const message = once(attachment, 'monitorError');
  socket.write(encodeFrame(FRAME.error, Buffer.from('the container has no terminal')));
  t.deepEqual(await message, ['the container has no terminal']);
  attachment.detach();
});

test('a monitor that is gone, or goes before answering, means the container is not running', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-no-monitor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(attachMonitor(dir), { instanceOf: FailedPreconditionError, message: 'the container is not running' });

  const monitor = await fakeMonitor(t);
  const attaching = attachMonitor(monitor.stateDir);
  (await monitor.connection()).socket.destroy();
  await t.throwsAsync(attaching, { instanceOf: FailedPreconditionError, message: 'the container is not running' });
});

test('a refused attach says why, too many clients being a resource limit', async (t) => {
  const monitor = await fakeMonitor(t);
  const tooMany = attachMonitor(monitor.stateDir);
  (await monitor.connection()).socket.write('error too many attach clients (at most 16)\n');
  await t.throwsAsync(tooMany, { instanceOf: ResourceExhaustedError, message: 'crion-monitor refused attach: too many attach clients (at most 16)' });

  const other = attachMonitor(monitor.stateDir);
  (await monitor.connection()).socket.write('error unknown command "attach"\n');
  await t.throwsAsync(other, { instanceOf: UnavailableError, message: 'crion-monitor refused attach: unknown command "attach"' });
});
