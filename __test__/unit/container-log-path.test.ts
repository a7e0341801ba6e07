import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { containerLogPath } from '../../src/container/container-log-path.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { makeDirectories } from '../../src/fs/make-directories.js';

test("a container's log path is below its pod's log directory, as the kubelet lays it out", (t) => {
  t.is(containerLogPath('/var/log/pods/ns_web_uid', 'app/0.log'), '/var/log/pods/ns_web_uid/app/0.log');
  t.is(containerLogPath('/var/log/pods/ns_web_uid', ''), '');
  t.is(containerLogPath('', 'app/0.log'), '');
});

test('a log path that climbs out of the log directory, or is absolute, is INVALID_ARGUMENT', (t) => {
  for (const logPath of ['../../escape.log', 'app/../../escape.log', './app.log', 'app//0.log', '/etc/cron.d/x']) {
    t.throws(() => containerLogPath('/var/log/pods/ns_web_uid', logPath), { instanceOf: InvalidArgumentError, message: /^log_path / }, logPath);
  }
});

test('makeDirectories makes what is missing, says which it made first, and stops at a file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-mkdirs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.is(await makeDirectories(path.join(dir, 'a', 'b', 'c')), path.join(dir, 'a'));
  t.true((await stat(path.join(dir, 'a', 'b', 'c'))).isDirectory());
  t.is(await makeDirectories(path.join(dir, 'a', 'b')), undefined);
  await writeFile(path.join(dir, 'file'), '');
  await t.throwsAsync(makeDirectories(path.join(dir, 'file', 'x')), { code: 'ENOTDIR', message: `${path.join(dir, 'file')} is not a directory` });
  t.deepEqual((await readdir(dir)).sort(), ['a', 'file']);
});

test('makeDirectories gives up on /proc at once, where a recursive mkdir spins forever', async (t) => {
  await t.throwsAsync(makeDirectories('/proc/1/probe/x'), { code: 'ENOENT' });
});
