import test from 'ava';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { createLogger } from '../../src/log/logger.js';
import { FLAG_FIN, GoAwayStatus, RstStatus } from '../../src/streaming/spdy/frames.js';
import type { CommandOutcome } from '../../src/streaming/remote-command.js';
import { StreamRequests, type StreamRequest } from '../../src/streaming/stream-requests.js';
import { StreamServer, type StreamServerOptions, type StreamTargets } from '../../src/streaming/stream-server.js';
import type { StreamedProcess } from '../../src/streaming/streamed-process.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';
import { Peer } from '../helpers/spdy-peer.js';

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

async function startServer(
  t: { teardown(fn: () => Promise<void> | void): void },
  targets: Partial<StreamTargets>,
  options: Partial<Pick<StreamServerOptions, 'idleTimeoutMs' | 'streamCreationTimeoutMs' | 'tls' | 'sessionObserver'>> = {},
) {
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
    ...options,
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
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(process.stopped, 'a client leaving after its command ended does not stop (kill) it again');
});

test('the session observer hears a session open once its token is taken and closed once its connection is gone; a bad token is no session', async (t) => {
  const heard: string[] = [];
  const process = upperCaser(0);
  const server = await startServer(
    t,
    { exec: async () => process },
    { sessionObserver: { opened: (kind) => void heard.push(`opened ${kind}`), closed: (kind) => void heard.push(`closed ${kind}`) } },
  );
  t.is(await refusal(wsUrl(`${server.baseUrl}/exec/unknown-token`), ['v5.channel.k8s.io']), 404);
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  t.deepEqual(heard, ['opened exec']);
  ws.send(Buffer.of(255, 0));
  await done;
  for (let waited = 0; heard.length < 2 && waited < 5000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  t.deepEqual(heard, ['opened exec', 'closed exec']);
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

async function connectTo(port: number): Promise<Duplex> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

async function echoServer(t: { teardown(fn: () => void): void }): Promise<number> {
  const server: Server = createServer((socket) => socket.pipe(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A port forward over a WebSocket with channels, its port named by the URL's query or by the PortForward call. */
const forwardsOverChannels = test.macro(async (t, portFrom: 'query' | 'call') => {
  const port = await echoServer(t);
  const connected: number[] = [];
  const server = await startServer(t, {
    portForward: () => (target) => {
      connected.push(target);
      return connectTo(target);
    },
  });
  const url = server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: portFrom === 'call' ? [port] : [] });
  const ws = new WebSocket(wsUrl(portFrom === 'query' ? `${url}?port=${port}` : url), ['v4.channel.k8s.io']);
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

test(
  'port forward over a WebSocket: each port opens its data and error channels with the port, then data flows both ways',
  forwardsOverChannels,
  'query',
);
// The kubelet dials the runtime's URL bare (its UpgradeAwareHandler drops the client's ?port=); crion refused that with 400.
test(
  "port forward over a WebSocket forwards the PortForward call's ports when the URL has no query, as the kubelet proxies it",
  forwardsOverChannels,
  'call',
);

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

/** A raw SPDY upgrade: the HTTP answer, and a SPDY peer on the socket when it was 101. */
async function spdyUpgrade(url: string, protocols: string[]): Promise<{ status: number; head: string; peer: Peer; socket: Socket }> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  await once(socket, 'connect');
  const versions = protocols.map((protocol) => `X-Stream-Protocol-Version: ${protocol}\r\n`).join('');
  socket.write(`GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${versions}\r\n`);
  let received = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    received = Buffer.concat([received, chunk]);
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) continue;
    socket.removeAllListeners('data');
    const head = received.subarray(0, end).toString();
    return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)![1]), head, peer: new Peer(socket, received.subarray(end + 4)), socket };
  }
}

test('exec over SPDY: one stream per type, stdin to the command, stdout back with FIN, then the v4 status and GOAWAY', async (t) => {
  const process = upperCaser(0);
  const server = await startServer(t, { exec: async () => process });
  const { status, head, peer } = await spdyUpgrade(server.urlFor({ ...execRequest, stderr: false }), ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
  t.is(status, 101);
  t.regex(head, /X-Stream-Protocol-Version: v4\.channel\.k8s\.io/);
  peer.open(1, { streamtype: 'error' });
  peer.open(3, { streamtype: 'stdin' });
  peer.open(5, { streamtype: 'stdout' });
  await peer.until(() => peer.replies.size === 3);
  peer.send({ type: 'data', streamId: 3, flags: 0, data: Buffer.from('abc') }, { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.alloc(0) });
  await peer.frame('data', (frame) => frame.streamId === 5 && (frame.flags & FLAG_FIN) !== 0);
  t.is(
    Buffer.concat(
      peer
        .of('data')
        .filter((frame) => frame.streamId === 5)
        .map((frame) => frame.data),
    ).toString(),
    'ABC',
  );
  await peer.frame('data', (frame) => frame.streamId === 1 && (frame.flags & FLAG_FIN) !== 0);
  const statusText = Buffer.concat(
    peer
      .of('data')
      .filter((frame) => frame.streamId === 1)
      .map((frame) => frame.data),
  ).toString();
  t.deepEqual(JSON.parse(statusText), { status: 'Success' });
  await peer.frame('goaway');
  // The client's input stream is closed from the server's side too, so once the client has sent FIN on each of
  // its streams, as Go's client does before it hangs up, the server ends the connection: nothing keeps it open.
  await peer.frame('data', (frame) => frame.streamId === 3 && (frame.flags & FLAG_FIN) !== 0);
  for (const streamId of [1, 5]) peer.send({ type: 'data', streamId, flags: FLAG_FIN, data: Buffer.alloc(0) });
  await peer.until(() => peer.ended);
});

test('a SPDY client offering no protocol this server has gets 403 with the accepted list', async (t) => {
  const server = await startServer(t, {});
  const { status, head, socket } = await spdyUpgrade(server.urlFor(execRequest), ['v9.channel.k8s.io']);
  socket.destroy();
  t.is(status, 403);
  t.regex(head, /X-Accepted-Stream-Protocol-Versions: v5\.channel\.k8s\.io, v4\.channel\.k8s\.io/);
});

test('a malformed SPDY frame closes that connection with GOAWAY(PROTOCOL_ERROR) and leaves other sessions alone', async (t) => {
  const started: string[] = [];
  const server = await startServer(t, {
    exec: async () => {
      started.push('exec');
      return upperCaser(0);
    },
  });
  const bad = await spdyUpgrade(server.urlFor(execRequest), ['v4.channel.k8s.io']);
  // A control frame of SPDY version 2.
  bad.socket.write(Buffer.from([0x80, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
  const goaway = await bad.peer.frame('goaway');
  t.is(goaway.status, GoAwayStatus.ProtocolError);
  await bad.peer.until(() => bad.peer.ended);
  t.deepEqual(started, []);

  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from('still')]));
  ws.send(Buffer.of(255, 0));
  const { messages } = await done;
  t.true(messages.some((message) => message.subarray(1).toString() === 'STILL'));
});

test('a client that does not open its announced streams in time is cut off before anything starts', async (t) => {
  const started: string[] = [];
  const server = await startServer(
    t,
    {
      exec: async () => {
        started.push('exec');
        return upperCaser(0);
      },
    },
    { streamCreationTimeoutMs: 200 },
  );
  const { peer } = await spdyUpgrade(server.urlFor(execRequest), ['v4.channel.k8s.io']);
  peer.open(1, { streamtype: 'error' });
  await peer.until(() => peer.ended);
  t.deepEqual(started, []);
});

test('port forward over SPDY: a data and an error stream per request ID reach the pod port, in both directions', async (t) => {
  const port = await echoServer(t);
  const server = await startServer(t, { portForward: () => (target) => connectTo(target) });
  const { status, peer } = await spdyUpgrade(server.urlFor({ kind: 'port-forward', podSandboxId: 'p1', ports: [] }), ['portforward.k8s.io']);
  t.is(status, 101);
  peer.open(1, { streamtype: 'error', port: String(port), requestid: '0' });
  peer.open(3, { streamtype: 'data', port: String(port), requestid: '0' });
  await peer.until(() => peer.replies.size === 2);
  peer.send({ type: 'data', streamId: 3, flags: 0, data: Buffer.from('over spdy') });
  await peer.until(() => peer.dataBytes(3) >= 9);
  t.is(
    Buffer.concat(
      peer
        .of('data')
        .filter((frame) => frame.streamId === 3)
        .map((frame) => frame.data),
    ).toString(),
    'over spdy',
  );
  peer.open(5, { streamtype: 'data', port: 'http', requestid: '1' });
  const reset = await peer.frame('rst-stream', (frame) => frame.streamId === 5);
  t.is(reset.status, RstStatus.ProtocolError, 'a stream without a valid port is refused');
});

test('a session with no traffic for the idle timeout is closed', async (t) => {
  const server = await startServer(t, { exec: async () => upperCaser(0) }, { idleTimeoutMs: 300 });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  const started = Date.now();
  const { code } = await done;
  t.true(Date.now() - started >= 250);
  t.is(code, 1006, 'the socket is cut, not closed politely');
});

test('closing the server tells open WebSocket sessions it is going away and stops their commands', async (t) => {
  const process = upperCaser(0);
  const server = await StreamServer.start({
    address: '127.0.0.1',
    port: 0,
    tls: null,
    requests: new StreamRequests(60_000),
    targets: { exec: async () => process, attach: () => Promise.reject(new Error('no')), portForward: () => () => Promise.reject(new Error('no')) },
    idleTimeoutMs: 60_000,
    streamCreationTimeoutMs: 2000,
    log,
  });
  const ws = new WebSocket(wsUrl(server.urlFor(execRequest)), ['v5.channel.k8s.io']);
  const done = conversation(ws);
  await once(ws, 'open');
  await server.close();
  t.is((await done).code, 1001);
  for (let i = 0; i < 50 && !process.stopped; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(process.stopped);
});

test('with a certificate and key the server speaks HTTPS, and its URLs say so', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { certFile, keyFile } = await selfSignedCertificate(dir);
  const server = await startServer(t, { exec: async () => upperCaser(0) }, { tls: { certFile, keyFile } });
  const url = server.urlFor(execRequest);
  t.regex(url, /^https:\/\/127\.0\.0\.1:\d+\/exec\//);
  const ws = new WebSocket(wsUrl(url), ['v5.channel.k8s.io'], { ca: await readFile(certFile) });
  const done = conversation(ws);
  await once(ws, 'open');
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from('tls')]));
  ws.send(Buffer.of(255, 0));
  const { messages } = await done;
  t.true(messages.some((message) => message.subarray(1).toString() === 'TLS'));
});
