import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { NativeError, pidAlive, watchExit, type ExitWatchAddon } from '../../src/native/index.js';
import { run } from '../helpers/process.js';

/** `comm` is cut to 15 bytes: "crion-exit-watch" reads as this. */
const WATCHER_COMM = 'crion-exit-watc';

async function watcherThreads(): Promise<number> {
  let count = 0;
  for (const task of await readdir('/proc/self/task')) {
    const comm = await readFile(`/proc/self/task/${task}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === WATCHER_COMM) count++;
  }
  return count;
}

test('resolves after a child exits, not before', async (t) => {
  const child = spawn('sleep', ['0.2'], { stdio: 'ignore' });
  const pid = child.pid ?? t.fail('no pid');
  const start = performance.now();
  t.true(pidAlive(pid));
  await watchExit(pid);
  t.true(performance.now() - start >= 150, `${performance.now() - start} ms`);
});

test('watches a process that is not the daemon’s child', async (t) => {
  // The shell exits at once and leaves its background sleep to init; the
  // test ends the sleep itself, so a slow machine cannot outrun it.
  const { stdout } = await run('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!']);
  const pid = Number(stdout.trim());
  t.true(pidAlive(pid));
  const exited = watchExit(pid);
  process.kill(pid, 'SIGTERM');
  await exited;
  t.false(pidAlive(pid));
});

test('an already reaped pid rejects with ERR_EXIT_WATCH_NO_PROCESS', async (t) => {
  const child = spawn('true', { stdio: 'ignore' });
  const pid = child.pid ?? t.fail('no pid');
  await once(child, 'exit');
  const error = await t.throwsAsync(watchExit(pid), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_EXIT_WATCH_NO_PROCESS');
  t.regex(error?.message ?? '', new RegExp(`no process ${pid}`));
  t.false(pidAlive(pid));
});

test('pids that cannot name a process are refused', async (t) => {
  const error = await t.throwsAsync(watchExit(0), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_EXIT_WATCH_INVALID_PID');
  t.throws(() => pidAlive(-5), { instanceOf: NativeError, code: 'ERR_EXIT_WATCH_INVALID_PID' } as never);
  await t.throwsAsync(watchExit(1.5), { instanceOf: RangeError });
  t.throws(() => pidAlive(2 ** 31), { instanceOf: RangeError });
});

test('100 concurrent watches all resolve, on one watcher thread', async (t) => {
  const children = Array.from({ length: 100 }, (_, index) =>
    spawn('sleep', [`0.${String(10 + (index % 30)).padStart(2, '0')}`], { stdio: 'ignore' }),
  );
  const watches = children.map((child) => watchExit(child.pid ?? 0));
  t.is(await watcherThreads(), 1);
  await Promise.all(watches);
  t.true(children.every((child) => !pidAlive(child.pid ?? 0)));
});

test('errors from an injected addon are rebuilt as NativeError with their code', async (t) => {
  const fake: ExitWatchAddon = {
    watchExit: () => Promise.reject(Object.assign(new Error('gone'), { code: 'ERR_EXIT_WATCH_NO_PROCESS' })),
    pidAlive: () => true,
  };
  const error = await t.throwsAsync(watchExit(42, fake), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_EXIT_WATCH_NO_PROCESS');
  t.true(pidAlive(42, fake));
});
