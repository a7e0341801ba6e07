import test from 'ava';
import { crictl } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { run } from '../helpers/process.js';
import { crionBin } from '../helpers/repo.js';
import { TerminalSession } from '../helpers/terminal-session.js';

/**
 * `crion top` on a pseudo-terminal against a real daemon, read back as a
 * person would see the screen, through a headless xterm: one pod whose
 * container burns CPU, one whose container idles on 32 MiB of memory.
 */

const source = sharedImageSource(test);

async function runningContainer(daemon: Daemon, podId: string, podFile: string, name: string, command: string[], attempt = 0): Promise<string> {
  const created = await createBusyboxContainer(daemon, source, podId, podFile, name, command, { metadata: { name, attempt } });
  if (created.code !== 0) throw new Error(created.stderr);
  const id = created.stdout.trim();
  const started = await crictl(daemon, ['start', id]);
  if (started.code !== 0) throw new Error(started.stderr);
  return id;
}

/**
 * `crion top` on a terminal of the given size, run by a shell that prints `stty -a` after it, so the test sees the
 * terminal modes it left behind. CI=true as CI sets it: top must still draw live (ink would wait for the exit to draw).
 */
function topSession(daemon: Daemon, rows: number, columns: number): TerminalSession {
  return new TerminalSession(
    rows,
    columns,
    ['sh', '-c', '"$@"; status=$?; stty -a; exit $status', 'sh', process.execPath, crionBin, 'top', '--listen', daemon.endpoint],
    { ...process.env, CI: 'true' },
  );
}

/** The row whose first column is `name`, split on runs of two or more spaces. */
function row(lines: readonly string[], name: string): string[] | undefined {
  return lines.map((line) => line.trim().split(/\s{2,}/)).find((columns) => columns[0] === name);
}

/** The names in the first column of the table's rows, in order. */
function names(lines: readonly string[]): string[] {
  return lines.slice(3).flatMap((line) => (line.trim() === '' ? [] : [line.trim().split(/\s{2,}/)[0]!]));
}

/** "99.5%" → 99.5; "-" (no rate yet) → NaN. */
function cpuOf(lines: readonly string[], name: string): number {
  return Number.parseFloat(row(lines, name)?.[2] ?? '');
}

/** The terminal modes `stty -a` printed once top exited: canonical input and echo back on means raw mode was undone. */
function restoredModes(lines: readonly string[]): boolean {
  const modes = lines.join(' ').split(/\s+/);
  return modes.includes('icanon') && modes.includes('echo');
}

test('crion top lists pods and containers live, sorts, filters and quits on q', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const busy = await runBusyboxPod(daemon, source, 'busy-pod');
  const idle = await runBusyboxPod(daemon, source, 'idle-pod');
  await runningContainer(daemon, busy.podId, busy.podFile, 'burner', ['sh', '-c', 'while :; do :; done']);
  // tmpfs pages are charged to the writer's cgroup, so the idle pod is the larger in memory; attempt 2 is what the kubelet
  // would make of a container that has restarted twice.
  await runningContainer(
    daemon,
    idle.podId,
    idle.podFile,
    'sleeper',
    ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=32; exec sleep 3600'],
    2,
  );

  const session = topSession(daemon, 24, 100);
  t.teardown(() => session.kill());

  const listed = await session.waitFor(
    'both pods and their running containers, both with CPU figures',
    (lines) =>
      row(lines, 'crion-e2e/busy-pod')?.[1] === 'READY' &&
      row(lines, 'crion-e2e/idle-pod')?.[1] === 'READY' &&
      row(lines, 'burner')?.[1] === 'RUNNING' &&
      row(lines, 'sleeper')?.[1] === 'RUNNING' &&
      cpuOf(lines, 'burner') > 0 &&
      cpuOf(lines, 'sleeper') >= 0,
  );
  t.regex(listed[0]!, /^crion top · \d\d:\d\d:\d\d · 2 pods \(2 ready\) · 2 containers \(2 running\) · sort: cpu · filter: none/);
  t.regex(listed[1]!, /^keys: c cpu · m memory · n name · r restarts · \/ filter/);
  // On a machine other tests load too the loop gets less than a core, but far more than a sleep.
  t.true(cpuOf(listed, 'burner') > cpuOf(listed, 'sleeper') + 5);
  t.deepEqual(names(listed), ['crion-e2e/busy-pod', 'burner', 'crion-e2e/idle-pod', 'sleeper'], 'by CPU, each pod heading its containers');

  session.type('m');
  const byMemory = await session.waitFor('sort: memory', (lines) => /sort: memory/.test(lines[0] ?? ''));
  t.deepEqual(names(byMemory), ['crion-e2e/idle-pod', 'sleeper', 'crion-e2e/busy-pod', 'burner'], byMemory.join('\n'));
  t.regex(row(byMemory, 'sleeper')?.[3] ?? '', /^3\d(\.\d)?Mi$/);

  session.type('n');
  const byName = await session.waitFor('sort: name', (lines) => /sort: name/.test(lines[0] ?? ''));
  t.deepEqual(names(byName), ['crion-e2e/busy-pod', 'burner', 'crion-e2e/idle-pod', 'sleeper']);

  session.type('r');
  const byRestarts = await session.waitFor('sort: restarts', (lines) => /sort: restarts/.test(lines[0] ?? ''));
  t.deepEqual(names(byRestarts), ['crion-e2e/idle-pod', 'sleeper', 'crion-e2e/busy-pod', 'burner']);
  t.is(row(byRestarts, 'sleeper')?.[4], '2', byRestarts.join('\n'));
  t.is(row(byRestarts, 'crion-e2e/idle-pod')?.[4], '2');
  t.is(row(byRestarts, 'burner')?.[4], '0');

  session.type('/');
  await session.waitFor('the filter line', (lines) => /^filter: /.test(lines[1] ?? ''));
  session.type('sleep');
  await session.waitFor('the typed filter', (lines) => /^filter: sleep/.test(lines[1] ?? ''));
  session.type('\r');
  const filtered = await session.waitFor('the filter applied', (lines) => /filter: sleep/.test(lines[0] ?? ''));
  t.deepEqual(names(filtered), ['crion-e2e/idle-pod', 'sleeper'], filtered.join('\n'));

  session.type('q');
  t.is(await session.exited, 0);
  t.true(restoredModes(await session.screen()), (await session.screen()).join('\n'));

  // Without a terminal: refused, unless --once, which prints every row once.
  const piped = await run(process.execPath, [crionBin, 'top', '--listen', daemon.endpoint]);
  t.is(piped.code, 1);
  t.regex(piped.stderr, /^crion: crion top draws a live view and reads keys, so it needs a terminal on stdin and stdout; `crion top --once`/);
  const once = await run(process.execPath, [crionBin, 'top', '--once', '--listen', daemon.endpoint]);
  t.is(once.code, 0, once.stderr);
  const printed = once.stdout.split('\n');
  t.regex(printed[0]!, /^crion top · \d\d:\d\d:\d\d · 2 pods \(2 ready\) · 2 containers \(2 running\) · sort: cpu/);
  t.deepEqual(names(['', ...printed]), ['crion-e2e/busy-pod', 'burner', 'crion-e2e/idle-pod', 'sleeper'], once.stdout);
  t.false(once.stdout.includes('\x1b'), 'no colours in a pipe');
});

test('crion top fits a resized terminal, shows a failed refresh until the daemon is back, and quits on Ctrl-C', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  for (const name of ['one', 'two', 'three']) {
    const pod = await runBusyboxPod(daemon, source, name);
    await runningContainer(daemon, pod.podId, pod.podFile, `${name}-app`, ['sleep', '3600']);
  }
  const session = topSession(daemon, 24, 100);
  t.teardown(() => session.kill());
  await session.waitFor('three pods', (lines) => /3 pods \(3 ready\)/.test(lines[0] ?? '') && names(lines).length === 6);

  // Seven lines tall: three fixed, then the rows; the last line counts what did not fit.
  session.resize(7, 60);
  const small = await session.waitFor('the rows cut to the height', (lines) => lines.some((line) => line.startsWith('…')));
  t.is(names(small).length, 3, small.join('\n'));
  t.regex(small[5]!, /^… 4 more rows/);
  t.notRegex(small[2]!, /ID/, 'too narrow for the ID column');
  session.resize(24, 100);
  await session.waitFor('every row again', (lines) => names(lines).length === 6);

  const restarted = await daemon.restart('SIGTERM', async () => {
    const failed = await session.waitFor('the refresh error', (lines) => /^refresh failed at \d\d:\d\d:\d\d, retrying: /.test(lines[1] ?? ''));
    t.is(names(failed).length, 6, 'the last snapshot stays');
  });
  t.teardown(() => restarted.dispose());
  await session.waitFor('the keys line back once the daemon answers', (lines) => /^keys: /.test(lines[1] ?? ''));

  session.type('\x03');
  t.is(await session.exited, 0);
  t.true(restoredModes(await session.screen()));
  t.true(session.output.lastIndexOf('\x1b[?25h') > session.output.lastIndexOf('\x1b[?25l'), 'the cursor ink hid is shown again');
});
