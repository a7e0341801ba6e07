import test from 'ava';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import { createLogger } from '../../src/log/logger.js';
import type { CommandOutcome } from '../../src/streaming/remote-command.js';
import { StreamRequests, type StreamRequest } from '../../src/streaming/stream-requests.js';
import { StreamServer, type StreamTargets } from '../../src/streaming/stream-server.js';
import type { StreamedProcess } from '../../src/streaming/streamed-process.js';

const log = createLogger({ level: 'fatal', format: 'json' });

/** A command that upper-cases its stdin and exits with `exitCode` once stdin ends. */
function upperCaser(exitCode: number): StreamedProcess & { stopped: boolean } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let finish!: (outcome: CommandOutcome) => void;
  const outcome = new Promise<CommandOutcome>((resolve) => (finish = resolve));
  stdin.on('data', (chunk: Buffer) => stdout.write(chunk.toString().toUpperCase()));
  stdin.on('end', () => {
    stdout.end();
    finish({ exitCode });
  });
  const process = {
    stdin,
    stdout,
    stderr: null,
    resize: () => undefined,
    outcome,
    endsWithStdin: false,
    stopped: false,
    stop: async () => {
      process.stopped = true;
      stdout.end();
      finish({ exitCode: 137 });
    },
  };
  return process;
}

async function startServer(t: { teardown(fn: () => Promise<void> | void): void }, targets: Partial<StreamTargets>) {
  const server = await StreamServer.start({
    address: '127.0.0.1',
    port: 0,
    tls: null,
    requests: new StreamRequests(60_000),
    targets: {
      exec: () => Promise.reject(new Error('no exec here')),
      attach: () => Promise.reject(new Error('no attach here')),
      portForward: () => () => Promise.reject(new Error('no port forward here')),
      ...targets,
    },
    idleTimeoutMs: 60_000,
    streamCreationTimeoutMs: 2000,
    log,
  });
  t.teardown(() => server.close());
  return server;
}

const execRequest: StreamRequest = { kind: 'exec', containerId: 'c1', command: ['cat'], tty: false, stdin: true, stdout: true, stderr: true };

/** Every message the server sends, until it closes. */
function conversation(ws: WebSocket): Promise<{ messages: Buffer[]; code: number }> {
  const messages: Buffer[] = [];
  ws.on('message', (data: Buffer) => messages.push(data));
  return once(ws, 'close').then(([code]) => ({ messages, code: code as number }));
}

/** The HTTP status a refused upgrade got. */
async function refusal(url: string, protocols: string[]): Promise<number> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => undefined);
  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
  ws.terminate();
  return response.statusCode;
}

function wsUrl(url: string): string {
  return url.replace(/^http/, 'ws');
}

test('exec over v5.channel.k8s.io: stdin in, stdout out, the close signal ends stdin, the status closes the session', async (t) => {
  const process = upperCaser(0);
  const server = await startServer(t, { exec: async () => process });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  t.is(ws.protocol, 'v5.channel.k8s.io');
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from('hello')]));
  ws.send(Buffer.of(255, 0));
  const { messages, code } = await done;
  t.is(code, 1000);
  t.deepEqual(messages[0], Buffer.of(1), 'an empty stdout message opens the session');
  const stdout = Buffer.concat(messages.filter((m) => m[0] === 1).map((m) => m.subarray(1))).toString();
  t.is(stdout, 'HELLO');
  const status = messages.find((m) => m[0] === 3);
  t.deepEqual(JSON.parse(status!.subarray(1).toString()), { status: 'Success' });
  t.false(process.stopped);
});

test('the base64 subprotocol carries the channel as a digit and the payload in base64, and a non-zero exit is a Failure', async (t) => {
  const server = await startServer(t, { exec: async () => upperCaser(3) });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v4.base64.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  ws.send('0' + Buffer.from('abc').toString('base64'));
  // v4 has no close signal: the client closing its side ends stdin.
  setTimeout(() => ws.close(1000), 200);
  const { messages } = await done;
  const texts = messages.map((m) => m.toString());
  t.true(texts.includes('1' + Buffer.from('ABC').toString('base64')), texts.join(' | '));
});

test('an unknown token and a token used twice both get 404', async (t) => {
  const server = await startServer(t, { exec: async () => upperCaser(0) });
  const url = server.urlFor(execRequest);
  const first = new WebSocket(wsUrl(url), ['v5.channel.k8s.io']);
  await once(first, 'open');
  first.close();
  for (const target of [url, `${server.baseUrl}/exec/AAAAAAAAAAAAAAAAAAAAAA`]) {
    t.is(await refusal(wsUrl(target), ['v5.channel.k8s.io']), 404);
  }
});

test('a protocol the server lacks is refused before the upgrade, and the token stays spent', async (t) => {
  const server = await startServer(t, { exec: async () => upperCaser(0) });
  t.is(await refusal(wsUrl(server.urlFor(execRequest)), ['v9.channel.k8s.io']), 400);
});

test('a malformed close signal closes that connection with a protocol error, and the command is stopped', async (t) => {
  const process = upperCaser(0);
  const server = await startServer(t, { exec: async () => process });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  ws.send(Buffer.of(255, 0, 0));
  t.is((await done).code, 1002);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.true(process.stopped);
});

test('a client that goes away stops its command', async (t) => {
  const process = upperCaser(0);
  const server = await startServer(t, { exec: async () => process });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  await once(ws, 'open');
  ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.true(process.stopped);
});

test('an exec that cannot start is reported on the error channel', async (t) => {
  const server = await startServer(t, {
    exec: () => Promise.reject(new Error('container c1 is exited, not running')),
  });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const { messages } = await conversation(ws);
  const status = JSON.parse(
    messages
      .find((m) => m[0] === 3)!
      .subarray(1)
      .toString(),
  ) as { status: string; message: string };
  t.is(status.status, 'Failure');
  t.regex(status.message, /not running/);
});

async function echoServer(t: { teardown(fn: () => void): void }): Promise<number> {
  const server: Server = createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('port forward over a WebSocket: each port opens its data and error channels with the port, then data flows both ways', async (t) => {
  const port = await echoServer(t);
  const connected: number[] = [];
  const server = await startServer(t, {
    portForward: () => async (target) => {
      connected.push(target);
      const { connect } = await import('node:net');
      const socket = connect(target, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    },
  });
  const url = `${wsUrl(server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: [] }))}?port=${port}`;
  const ws = new WebSocket(url, ['v4.channel.k8s.io']);
  const received: Buffer[] = [];
  ws.on('message', (data: Buffer) => received.push(data));
  await once(ws, 'open');
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16LE(port);
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from('ping')]));
  for (let i = 0; i < 50 && !received.some((m) => m.toString().includes('ping')); i++) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(received[0], Buffer.concat([Buffer.of(0), portBytes]));
  t.deepEqual(received[1], Buffer.concat([Buffer.of(1), portBytes]));
  t.deepEqual(received[2], Buffer.concat([Buffer.of(0), Buffer.from('ping')]));
  t.deepEqual(connected, [port]);
  ws.close();
});

test("port forward over a WebSocket forwards the PortForward call's ports when the URL has no query, as the kubelet proxies it", async (t) => {
  // The kubelet dials the runtime's URL bare (its UpgradeAwareHandler drops the client's ?port=); crion refused that with 400.
  const port = await echoServer(t);
  const connected: number[] = [];
  const server = await startServer(t, {
    portForward: () => async (target) => {
      connected.push(target);
      const { connect } = await import('node:net');
      const socket = connect(target, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    },
  });
  const ws = new WebSocket(wsUrl(server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: [port] })), ['v4.channel.k8s.io']);
  const received: Buffer[] = [];
  ws.on('message', (data: Buffer) => received.push(data));
  await once(ws, 'open');
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from('ping')]));
  for (let i = 0; i < 50 && !received.some((m) => m.toString().includes('ping')); i++) await new Promise((r) => setTimeout(r, 20));
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16LE(port);
  t.deepEqual(received[0], Buffer.concat([Buffer.of(0), portBytes]));
  t.deepEqual(received[1], Buffer.concat([Buffer.of(1), portBytes]));
  t.deepEqual(received[2], Buffer.concat([Buffer.of(0), Buffer.from('ping')]));
  t.deepEqual(connected, [port]);
  ws.close();
});

test('port forward reports a refused connection on the error channel', async (t) => {
  const server = await startServer(t, {
    portForward: () => () => Promise.reject(new Error('connection refused')),
  });
  const ws = new WebSocket(`${wsUrl(server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: [] }))}?port=81`, ['v4.channel.k8s.io']);
  const { messages } = await conversation(ws);
  const error = messages.filter((m) => m[0] === 1).map((m) => m.subarray(1).toString());
  t.true(
    error.some((text) => /error forwarding port 81 .*connection refused/.test(text)),
    error.join(' | '),
  );
});

test('a plain GET is told to upgrade, and a port forward without ports is refused', async (t) => {
  const server = await startServer(t, {});
  const response = await fetch(server.urlFor(execRequest));
  t.is(response.status, 400);
  t.is(await refusal(wsUrl(server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: [] })), ['v4.channel.k8s.io']), 400);
});
