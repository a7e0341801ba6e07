import test from 'ava';
import { createServer, type Server } from 'node:net';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { claimUnixSocket, socketPathOf, SocketClaimError, unixEndpoint } from '../../src/cri/unix-socket.js';

async function scratchDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-socket-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function listen(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve) => server.listen(socketPath, resolve));
}

test('socketPathOf takes the path out of a unix:// URL', (t) => {
  t.is(socketPathOf('unix:///run/crion/crion.sock'), '/run/crion/crion.sock');
  t.is(socketPathOf('unix:///tmp/a b%2F.sock'), '/tmp/a b%2F.sock', 'the path as written, not URL-encoded');
});

test('unixEndpoint takes a unix:// URL or a bare absolute path, as crictl does', (t) => {
  t.is(unixEndpoint('unix:///run/crion/crion.sock'), 'unix:///run/crion/crion.sock');
  t.is(unixEndpoint('/run/crion/crion.sock'), 'unix:///run/crion/crion.sock');
  t.is(socketPathOf(unixEndpoint('/tmp/x.sock')!), '/tmp/x.sock');
});

for (const refused of ['crion.sock', 'unix://run/crion.sock', 'unix:/run/crion.sock', 'dns:/run/crion.sock', 'tcp://127.0.0.1:1234', '']) {
  test(`unixEndpoint refuses ${JSON.stringify(refused)}`, (t) => {
    t.is(unixEndpoint(refused), null);
  });
}

test('a missing socket and its missing parent directory are fine', async (t) => {
  const dir = await scratchDir(t);
  const socketPath = path.join(dir, 'nested', 'crion.sock');
  await claimUnixSocket(socketPath);
  t.true((await lstat(path.dirname(socketPath))).isDirectory());
});

test('a live daemon on the socket is refused', async (t) => {
  const dir = await scratchDir(t);
  const socketPath = path.join(dir, 'crion.sock');
  const server = createServer();
  await listen(server, socketPath);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const error = await t.throwsAsync(claimUnixSocket(socketPath), { instanceOf: SocketClaimError });
  t.regex(error.message, /already serving unix:\/\/.*crion\.sock/);
  t.true((await lstat(socketPath)).isSocket(), 'the live socket is left alone');
});

test('a socket left by a crashed process is replaced', async (t) => {
  const dir = await scratchDir(t);
  const socketPath = path.join(dir, 'crion.sock');
  // A child that binds and is killed leaves the inode behind with nobody accepting on it.
  const child = spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  t.is(child.signal, 'SIGKILL');
  t.true((await lstat(socketPath)).isSocket());
  await claimUnixSocket(socketPath);
  await t.throwsAsync(lstat(socketPath), { code: 'ENOENT' });
});

test('a regular file where the socket should be is not deleted', async (t) => {
  const dir = await scratchDir(t);
  const socketPath = path.join(dir, 'crion.sock');
  await writeFile(socketPath, 'precious');
  const error = await t.throwsAsync(claimUnixSocket(socketPath), { instanceOf: SocketClaimError });
  t.regex(error.message, /is not a socket/);
  t.true((await lstat(socketPath)).isFile());
});
