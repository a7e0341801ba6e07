import test from 'ava';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readOpenFiles } from '../../src/stats/process-files.js';

test('open descriptors and sockets are counted per process from a proc tree; a process that is gone counts as none', async (t) => {
  const proc = await mkdtemp(path.join(tmpdir(), 'crion-proc-'));
  t.teardown(() => rm(proc, { recursive: true, force: true }));
  const links: Record<string, Record<string, string>> = {
    '10': { '0': '/dev/null', '1': 'pipe:[123]', '3': 'socket:[456]' },
    '11': { '0': '/dev/null', '5': 'socket:[789]', '6': 'socket:[790]', '7': 'anon_inode:[eventpoll]' },
  };
  for (const [pid, fds] of Object.entries(links)) {
    await mkdir(path.join(proc, pid, 'fd'), { recursive: true });
    for (const [fd, target] of Object.entries(fds)) await symlink(target, path.join(proc, pid, 'fd', fd));
  }
  t.deepEqual(await readOpenFiles([10, 11, 12], proc), { fileDescriptors: 7n, sockets: 3n });
  t.deepEqual(await readOpenFiles([], proc), { fileDescriptors: 0n, sockets: 0n });
});

test('the real /proc: a socket this process opens shows in its count', async (t) => {
  const before = await readOpenFiles([process.pid]);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const after = await readOpenFiles([process.pid]);
  t.true(after.sockets >= before.sockets + 1n, `${before.sockets} → ${after.sockets}`);
  t.true(after.fileDescriptors >= after.sockets);
});
