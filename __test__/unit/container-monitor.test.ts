import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerStartError, launchMonitor } from '../../src/container/monitor.js';

/** A stand-in for crion-monitor that writes one sync line to fd 3, as the real one does. */
async function fakeMonitor(t: { teardown(fn: () => Promise<void>): void }, syncLine: object): Promise<{ binary: string; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-fake-monitor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const binary = path.join(dir, 'crion-monitor');
  await writeFile(binary, `#!/bin/sh\nprintf '%s\\n' '${JSON.stringify(syncLine)}' >&3\n`);
  await chmod(binary, 0o755);
  return { binary, dir };
}

function launch(binary: string, dir: string) {
  return launchMonitor({
    binary,
    containerId: 'c1',
    bundle: dir,
    stateDir: dir,
    logPath: path.join(dir, 'container.log'),
    runtime: '/usr/sbin/runc',
    runtimeRoot: path.join(dir, 'runc'),
    terminal: false,
    stdin: false,
    memoryCgroup: null,
    restore: null,
  });
}

const FAILURES = [
  {
    title: "a failed runtime create reports the runtime's exit code and all it printed, not only the last line",
    sync: {
      code: 'ERR_RUNTIME_CREATE',
      message: '`/usr/sbin/runc create` exited with code 2: no rootfs',
      runtimeExitCode: 2,
      runtimeStderr: 'warning: cgroup v1\nno rootfs\n',
    },
    expected: '`/usr/sbin/runc create` failed with exit code 2: warning: cgroup v1\nno rootfs',
  },
  {
    title: 'a runtime that printed nothing is said to have printed nothing',
    sync: {
      code: 'ERR_RUNTIME_CREATE',
      message: '`/usr/sbin/runc create` was killed by signal 9: it printed nothing',
      runtimeExitCode: 137,
      runtimeStderr: '',
    },
    expected: '`/usr/sbin/runc create` failed with exit code 137: it printed nothing',
  },
  {
    title: "a failure of the monitor itself keeps the monitor's message",
    sync: {
      code: 'ERR_LOG_OPEN',
      message: 'opening the container log /x: Permission denied (os error 13)',
      runtimeExitCode: null,
      runtimeStderr: null,
    },
    expected: 'opening the container log /x: Permission denied (os error 13)',
  },
];

for (const { title, sync, expected } of FAILURES) {
  test(title, async (t) => {
    const { binary, dir } = await fakeMonitor(t, { ok: false, ...sync });
    const error = await t.throwsAsync(launch(binary, dir), { instanceOf: ContainerStartError });
    t.is(error.message, expected);
  });
}

test("a created container gives its pid and the monitor's", async (t) => {
  const { binary, dir } = await fakeMonitor(t, { ok: true, pid: 42, monitorPid: 7 });
  t.deepEqual(await launch(binary, dir), { pid: 42, monitorPid: 7 });
});
