import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { crictl } from '../helpers/crictl.js';
import { canConnect, spawnDaemon, startDaemon } from '../helpers/daemon.js';

test('logs JSON lines on stderr and announces "serving CRI" with the listen address', async (t) => {
  const daemon = await startDaemon(t);
  const ready = await daemon.waitForLog((line) => line.msg === 'serving CRI', 10_000, '"serving CRI" line');
  t.is(typeof ready.level, 'string');
  // pino writes epoch milliseconds by default, or an ISO string with isoTime.
  t.false(Number.isNaN(new Date(ready.time ?? Number.NaN).getTime()), `time: ${String(ready.time)}`);
  t.true(String(ready.listen).includes(daemon.socketPath), `listen field: ${String(ready.listen)}`);
  t.deepEqual(daemon.nonJsonLines(), []);
});

test('creates the socket with mode 0660 and its missing parent directories', async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-sock-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const socketPath = path.join(base, 'run', 'crion', 'crion.sock');
  const daemon = await startDaemon(t, { socketPath });
  const info = await stat(socketPath);
  t.true(info.isSocket());
  t.is(info.mode & 0o777, 0o660, `mode ${(info.mode & 0o777).toString(8)}`);
  t.is(await daemon.stop(), 0);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} exits 0 and removes the socket`, async (t) => {
    const daemon = await startDaemon(t);
    daemon.signal(signal);
    const status = await daemon.waitExit();
    t.deepEqual(status, { code: 0, signal: null }, daemon.stderr);
    t.false(existsSync(daemon.socketPath), 'socket file left behind');
  });
}

test('a second daemon on a live socket exits non-zero saying it is already served, and the first keeps serving', async (t) => {
  const first = await startDaemon(t);
  const second = await spawnDaemon({ socketPath: first.socketPath });
  t.teardown(() => second.dispose());
  const status = await second.waitExit();
  t.not(status.code, 0, second.stderr);
  t.regex(second.stderr, /already serving/);
  t.true(existsSync(first.socketPath), 'the losing daemon removed the winner’s socket');
  const version = await crictl(first, ['version']);
  t.is(version.code, 0, version.stderr);
});

test('a second daemon on the same root and state is refused before it changes anything, naming the first', async (t) => {
  const first = await startDaemon(t);
  const root = path.join(first.dir, 'root');
  const state = path.join(first.dir, 'state');
  // What a RunPodSandbox the first daemon is in the middle of looks like: a runtime dir without its record yet,
  // which a starting daemon's sweep removes.
  const halfMade = path.join(state, 'pods', 'f'.repeat(64));
  await mkdir(halfMade, { recursive: true });
  await writeFile(path.join(halfMade, 'hostname'), 'in-progress\n');

  for (const args of [
    ['--root', root, '--state', state],
    ['--root', root],
    ['--state', state],
  ]) {
    const second = await spawnDaemon({ socketPath: path.join(first.dir, `second-${args.length}.sock`), args });
    t.teardown(() => second.dispose());
    const status = await second.waitExit();
    t.not(status.code, 0, second.stderr);
    const claimed = args.includes('--root') ? root : state;
    t.regex(second.stderr, new RegExp(`another crion daemon \\(PID ${first.child.pid}\\) holds ${claimed}/crion\\.lock`));
  }
  t.true(existsSync(path.join(halfMade, 'hostname')), "the first daemon's pod in the making is untouched");
  t.is((await crictl(first, ['version'])).code, 0, 'the first keeps serving');
  t.is(await first.stop(), 0);
  // The claim goes with the daemon: the next one on the same directories starts.
  const next = await startDaemon(t, { args: ['--root', root, '--state', state] });
  t.is((await crictl(next, ['version'])).code, 0);
});

test('replaces a stale socket left by a killed process', async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-stale-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const socketPath = path.join(base, 'crion.sock');
  await leaveStaleSocket(socketPath);
  t.true((await stat(socketPath)).isSocket());
  t.false(await canConnect(socketPath));

  const daemon = await startDaemon(t, { socketPath });
  const version = await crictl(daemon, ['version']);
  t.is(version.code, 0, version.stderr);
});

test('replaces the socket of a crion daemon that was SIGKILLed', async (t) => {
  const crashed = await startDaemon(t);
  crashed.signal('SIGKILL');
  await crashed.waitExit();
  t.true(existsSync(crashed.socketPath), 'expected SIGKILL to leave the socket behind');

  const daemon = await startDaemon(t, { socketPath: crashed.socketPath });
  const version = await crictl(daemon, ['version']);
  t.is(version.code, 0, version.stderr);
});

test('SIGHUP reloads the config file: lowering log.level from debug to warn stops debug lines', async (t) => {
  const daemon = await startDaemon(t, { logLevel: null, config: '[log]\nlevel = "debug"\n' });
  await crictl(daemon, ['version']);
  t.true(
    daemon.logs().some((line) => line.level === 'debug'),
    `expected debug lines while log.level = "debug":\n${daemon.stderr}`,
  );

  await writeFile(daemon.configPath, '[log]\nlevel = "warn"\n');
  daemon.signal('SIGHUP');
  const reloaded = await daemon.waitForLog((line) => line.msg === 'config reloaded', 10_000, '"config reloaded" line');
  t.true(Array.isArray(reloaded.changes) && reloaded.changes.length > 0, JSON.stringify(reloaded));
  t.regex(JSON.stringify(reloaded.changes), /level/);

  const linesBefore = daemon.logs().length;
  const version = await crictl(daemon, ['version']);
  t.is(version.code, 0, version.stderr);
  // Log writes are asynchronous to the RPC's reply; give any stray line time to arrive.
  await sleep(300);
  const after = daemon.logs().slice(linesBefore);
  t.deepEqual(
    after.filter((line) => line.level === 'debug' || line.level === 'info' || line.level === 'trace'),
    [],
  );
  t.true(daemon.running, 'SIGHUP must not stop the daemon');
  t.is(await daemon.stop(), 0);
});

/**
 * A socket file nobody listens on: bound by another process that is then killed,
 * so nothing gets the chance to unlink it (a clean close in Node would).
 */
async function leaveStaleSocket(socketPath: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['-e', 'require("node:net").createServer().listen(process.argv[1], () => console.log("listening"))', socketPath],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => resolve());
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`socket holder exited early (code ${code})`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
