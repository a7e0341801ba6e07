/**
 * crion-monitor as launchMonitor starts it, with real runc: a create the
 * runtime refuses reaches the operator with runc's exit code and its words.
 */

import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerStartError, launchMonitor, type MonitorLaunch } from '../../src/container/monitor.js';
import { monitorBinary } from '../../src/native/index.js';
import { criuPath, workingCriu } from '../helpers/criu.js';
import { program, root, testNeeding } from '../helpers/host-requirements.js';
import { run } from '../helpers/process.js';

const isRoot = process.getuid?.() === 0;
const RUNC = '/usr/sbin/runc';

async function runcAvailable(): Promise<boolean> {
  const result = await run(RUNC, ['--version']).catch(() => null);
  return result?.code === 0;
}

/**
 * A bundle in a fresh directory, removed when the test ends, with a config runc validates before touching the host
 * and refuses: its rootfs does not exist.
 */
async function bundleWithoutRootfs(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/sh'], cwd: '/' }, linux: {} }),
  );
  return dir;
}

/** launchMonitor with real runc on the bundle in `dir`, keeping its state and log there and runc's state in `dir/runc`. */
function launchRunc(dir: string, containerId: string, restore: MonitorLaunch['restore']) {
  return launchMonitor({
    binary: monitorBinary(),
    containerId,
    bundle: dir,
    stateDir: dir,
    logPath: path.join(dir, 'container.log'),
    runtime: RUNC,
    runtimeRoot: path.join(dir, 'runc'),
    terminal: false,
    stdin: false,
    memoryCgroup: null,
    restore,
  });
}

test('a bundle runc refuses fails the create with runc\'s exit code and stderr', async (t) => {
  if (!isRoot || !(await runcAvailable())) return t.pass('needs root and runc');
  const dir = await bundleWithoutRootfs(t, 'crion-monitor-create-');
  const error = await t.throwsAsync(launchRunc(dir, 'refused', null), { instanceOf: ContainerStartError });
  t.regex(error.message, /^`\/usr\/sbin\/runc create` failed with exit code 1: /);
  t.regex(error.message, /invalid rootfs: stat .*\/rootfs: no such file or directory/);
  // Nothing was created that a cleanup would have to delete.
  t.deepEqual(await readdir(path.join(dir, 'runc')).catch(() => []), []);
});

testNeeding(root, program(RUNC), workingCriu)('with --restore the monitor runs runc restore with the given CRIU, and its refusal reaches the operator', async (t) => {
  const dir = await bundleWithoutRootfs(t, 'crion-monitor-restore-');
  const images = path.join(dir, 'checkpoint');
  await mkdir(images);
  const error = await t.throwsAsync(launchRunc(dir, 'unrestorable', { images, criu: criuPath }), { instanceOf: ContainerStartError });
  t.regex(error.message, /^`\/usr\/sbin\/runc restore` failed with exit code 1: /);
  t.deepEqual(await readdir(path.join(dir, 'runc')).catch(() => []), []);
});
