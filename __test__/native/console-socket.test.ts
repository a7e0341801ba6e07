import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tty from 'node:tty';
import { bindConsoleSocket, NativeError, setWindowSize, type ConsoleSocket } from '../../src/native/index.js';
import { program, testNeeding } from '../helpers/host-requirements.js';

const pythonTest = testNeeding(program('python3'));

/**
 * Plays runc's part in `exec --tty --console-socket`: opens a pty, passes
 * the master with the pty's name as runc does, then acts as the process in
 * the terminal: reads one line from the slave and answers with it and the
 * window size the slave sees, then closes the slave.
 */
const RUNC_LIKE_SENDER = `
import fcntl, os, pty, socket, struct, sys, termios, tty
master, slave = pty.openpty()
tty.setraw(slave)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
socket.send_fds(s, [os.ttyname(slave).encode()], [master])
s.close()
os.close(master)
line = b''
while not line.endswith(b'\\n'):
    chunk = os.read(slave, 100)
    if not chunk:
        break
    line += chunk
rows, cols, _, _ = struct.unpack('HHHH', fcntl.ioctl(slave, termios.TIOCGWINSZ, b'\\0' * 8))
os.write(slave, b'got %s at %dx%d\\n' % (line.strip(), rows, cols))
os.close(slave)
`;

async function consoleSocket(t: ExecutionContext): Promise<ConsoleSocket> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-console-'));
  const socket = bindConsoleSocket(path.join(dir, 'console.sock'));
  t.teardown(async () => {
    socket.close();
    await rm(dir, { recursive: true, force: true });
  });
  return socket;
}

function sendLikeRunc(t: ExecutionContext, socketPath: string): void {
  const sender = spawn('python3', ['-c', RUNC_LIKE_SENDER, socketPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  t.teardown(() => void sender.kill('SIGKILL'));
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

pythonTest('one tty.ReadStream reads and writes the received pty master, sees the size set, and closes it at the end', async (t) => {
  const socket = await consoleSocket(t);
  t.is((await stat(socket.path)).mode & 0o777, 0o600);
  sendLikeRunc(t, socket.path);
  const master = await socket.receive(10_000);
  socket.close();
  await t.throwsAsync(stat(socket.path), { code: 'ENOENT' });

  setWindowSize(master, 33, 99);
  const stream = new tty.ReadStream(master);
  t.true(stream.writable);
  let output = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const closed = new Promise<void>((resolve) => stream.on('close', () => resolve()));
  stream.write('hello\n');
  // The slave's close ends the stream, which closes the master itself.
  await closed;
  t.is(output, 'got hello at 33x99\n');
  t.false(isOpen(master));
});

pythonTest('net.Socket refuses a pty master, which is why the wrapper says tty.ReadStream', async (t) => {
  const socket = await consoleSocket(t);
  sendLikeRunc(t, socket.path);
  const master = await socket.receive(10_000);
  t.teardown(() => closeSync(master));
  t.throws(() => new net.Socket({ fd: master, readable: true, writable: true }), { code: 'ERR_INVALID_FD_TYPE' });
});

pythonTest('nothing sent within the timeout rejects with ERR_CONSOLE_SOCKET_TIMEOUT', async (t) => {
  const socket = await consoleSocket(t);
  const error = await t.throwsAsync(socket.receive(100), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_CONSOLE_SOCKET_TIMEOUT');
  t.true(error?.message.includes(socket.path), error?.message);
});

pythonTest('closing ends a pending receive with ERR_CONSOLE_SOCKET_CLOSED and removes the file', async (t) => {
  const socket = await consoleSocket(t);
  const pending = socket.receive(60_000);
  setTimeout(() => socket.close(), 50);
  const error = await t.throwsAsync(pending, { instanceOf: NativeError });
  t.is(error?.code, 'ERR_CONSOLE_SOCKET_CLOSED');
  await t.throwsAsync(stat(socket.path), { code: 'ENOENT' });
});

pythonTest('a socket path too long for an address throws ERR_CONSOLE_SOCKET_PATH_TOO_LONG', (t) => {
  const error = t.throws(() => bindConsoleSocket(path.join(os.tmpdir(), 'x'.repeat(120))), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_CONSOLE_SOCKET_PATH_TOO_LONG');
});

pythonTest('the window size of something that is no terminal throws ERR_TERMINAL_NOT_A_TTY', (t) => {
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  const error = t.throws(() => setWindowSize(fd, 24, 80), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_TERMINAL_NOT_A_TTY');
  t.throws(() => setWindowSize(fd, 70_000, 80), { instanceOf: RangeError });
});
