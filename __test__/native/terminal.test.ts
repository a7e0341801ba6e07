import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import tty from 'node:tty';
import { NativeError, openPty, setWindowSize } from '../../src/native/index.js';

/**
 * openPty and setWindowSize on the built addon, used as exec with a
 * terminal uses them: the slave is a child's stdio, the master one
 * tty.ReadStream that reads and writes.
 */

/** Runs `script` in sh on the pty's slave, typing `input`, and returns what the master read until the slave closed. */
async function onTerminal(script: string, input: string, resizeTo: { rows: number; cols: number } | null = null): Promise<string> {
  const { master, slave } = openPty(33, 120);
  const child = spawn('sh', ['-c', script], { stdio: [slave, slave, slave] });
  const exited = once(child, 'close');
  // The child has its copy; once it exits, no one holds the slave and the master's stream ends.
  closeSync(slave);
  const stream = new tty.ReadStream(master);
  let output = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (output += chunk));
  if (resizeTo !== null) {
    setWindowSize(master, resizeTo.rows, resizeTo.cols);
    child.kill('SIGWINCH');
  }
  stream.write(input);
  // EIO is how a master may report that the slave's last holder closed it: the end, like 'close'.
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EIO') throw error;
  });
  await Promise.all([new Promise((resolve) => stream.once('close', resolve)), exited]);
  return output;
}

test('a new pty has the size asked for, and its master carries both directions', async (t) => {
  const output = await onTerminal('stty size; test -t 0 && echo on-a-tty; read line; echo "got $line"', 'typed\n');
  const lines = output.split(/\r?\n/);
  t.true(lines.includes('33 120'), output);
  t.true(lines.includes('on-a-tty'), output);
  t.true(lines.includes('got typed'), output);
});

test('setWindowSize on the master is the size the program on the slave reads', async (t) => {
  const output = await onTerminal('read line; stty size', 'go\n', { rows: 50, cols: 132 });
  t.true(output.split(/\r?\n/).includes('50 132'), output);
});

test('setWindowSize on a descriptor that is no terminal is a NativeError', (t) => {
  const fd = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(fd));
  const error = t.throws(() => setWindowSize(fd, 24, 80), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_TERMINAL_NOT_A_TTY');
});
