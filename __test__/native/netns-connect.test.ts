import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectInNetns, createPodNamespaces, NativeError } from '../../src/native/index.js';
import { program, root, testNeeding } from '../helpers/host-requirements.js';
import { namespaceDir } from '../helpers/namespace-dir.js';

const rootTest = testNeeding(root, program('python3'), program('nsenter', ['--version']));

/** An echo server on 127.0.0.1:PORT, a thread per connection; prints "ready" once listening. */
const ECHO_SERVER = `
import socket, sys, threading
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(('127.0.0.1', int(sys.argv[1])))
server.listen(256)
print('ready', flush=True)
def echo(connection):
    while True:
        data = connection.recv(4096)
        if not data:
            break
        connection.sendall(data)
    connection.close()
while True:
    connection, _ = server.accept()
    threading.Thread(target=echo, args=(connection,), daemon=True).start()
`;

const PORT = 8080;

/** A pod's pinned network namespace, made as the daemon makes it (lo up), removed after the test. */
async function podNetns(t: ExecutionContext): Promise<string> {
  const dir = await namespaceDir(t);
  const pins = await createPodNamespaces({ dir, net: true, ipc: false, uts: false, hostname: null, sysctls: {} });
  return pins.net!;
}

async function echoServerIn(t: ExecutionContext, netns: string, port: number): Promise<void> {
  const server = spawn('nsenter', [`--net=${netns}`, 'python3', '-c', ECHO_SERVER, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void server.kill('SIGKILL'));
  const [chunk] = (await once(server.stdout, 'data')) as [Buffer];
  t.is(chunk.toString().trim(), 'ready');
}

/** Wraps `fd` as the wrapper's comment says, sends `text` and reads its echo. */
async function echo(fd: number, text: string): Promise<string> {
  const socket = new net.Socket({ fd, readable: true, writable: true });
  socket.setEncoding('utf8');
  let received = '';
  socket.write(text);
  for await (const chunk of socket) {
    received += chunk as string;
    if (received.length >= text.length) break;
  }
  socket.destroy();
  return received;
}

rootTest('a socket connected inside the pod network namespace talks to the server there', async (t) => {
  const netns = await podNetns(t);
  await echoServerIn(t, netns, PORT);
  const fd = await connectInNetns(netns, PORT);
  t.is(await echo(fd, 'ping\n'), 'ping\n');
});

rootTest('many connects at once each get their own connection', async (t) => {
  const netns = await podNetns(t);
  await echoServerIn(t, netns, PORT);
  const fds = await Promise.all(Array.from({ length: 50 }, () => connectInNetns(netns, PORT)));
  t.is(new Set(fds).size, 50);
  const echoes = await Promise.all(fds.map((fd, index) => echo(fd, `connection ${index}\n`)));
  t.deepEqual(
    echoes,
    fds.map((_, index) => `connection ${index}\n`),
  );
});

rootTest('nothing listening in the pod rejects with ERR_NETNS_CONNECT_REFUSED naming the port and namespace', async (t) => {
  const netns = await podNetns(t);
  const error = await t.throwsAsync(connectInNetns(netns, PORT), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_NETNS_CONNECT_REFUSED');
  t.true(error?.message.includes(`localhost:${PORT}`), error?.message);
  t.true(error?.message.includes(netns), error?.message);
});

rootTest('a file that is no network namespace rejects with ERR_NETNS_CONNECT_NETNS', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-netns-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'not-a-netns');
  await writeFile(file, '');
  const error = await t.throwsAsync(connectInNetns(file, PORT), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_NETNS_CONNECT_NETNS');
  t.true(error?.message.includes(file), error?.message);
});

test('a null namespace connects in the daemon’s own, as for a host-network pod', async (t) => {
  const server = net.createServer((connection) => connection.pipe(connection));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  const { port } = server.address() as net.AddressInfo;
  const fd = await connectInNetns(null, port);
  t.is(await echo(fd, 'host\n'), 'host\n');
});

test('a port outside 1..65535 is a RangeError before any native call', async (t) => {
  await t.throwsAsync(connectInNetns(null, 0), { instanceOf: RangeError });
  await t.throwsAsync(connectInNetns(null, 70_000), { instanceOf: RangeError });
});
