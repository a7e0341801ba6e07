/**
 * crion-monitor as launchMonitor starts it, with real runc: a create the
 * runtime refuses reaches the operator with runc's exit code and its words.
 */

import test from 'ava';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ContainerStartError, launchMonitor } from '../../src/container/monitor.js';
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

test('a bundle runc refuses fails the create with runc\'s exit code and stderr', async (t) => {
  if (!isRoot || !(await runcAvailable())) return t.pass('needs root and runc');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-monitor-create-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const runtimeRoot = path.join(dir, 'runc');
  // A config runc validates before touching the host: its rootfs does not exist.
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/sh'], cwd: '/' }, linux: {} }),
  );

  const error = await t.throwsAsync(
    launchMonitor({
      binary: monitorBinary(),
      containerId: 'refused',
      bundle: dir,
      stateDir: dir,
      logPath: path.join(dir, 'container.log'),
      runtime: RUNC,
      runtimeRoot,
      terminal: false,
      stdin: false,
      memoryCgroup: null,
      restore: null,
    }),
    { instanceOf: ContainerStartError },
  );
  t.regex(error.message, /^`\/usr\/sbin\/runc create` failed with exit code 1: /);
  t.regex(error.message, /invalid rootfs: stat .*\/rootfs: no such file or directory/);
  // Nothing was created that a cleanup would have to delete.
  t.deepEqual(await readdir(runtimeRoot).catch(() => []), []);
});

testNeeding(root, program(RUNC), workingCriu)('with --restore the monitor runs runc restore with the given CRIU, and its refusal reaches the operator', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-monitor-restore-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const runtimeRoot = path.join(dir, 'runc');
  const images = path.join(dir, 'checkpoint');
  await mkdir(images);
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['/bin/sh'], cwd: '/' }, linux: {} }),
  );

  const error = await t.throwsAsync(
    launchMonitor({
      binary: monitorBinary(),
      containerId: 'unrestorable',
      bundle: dir,
      stateDir: dir,
      logPath: path.join(dir, 'container.log'),
      runtime: RUNC,
      runtimeRoot,
      terminal: false,
      stdin: false,
      memoryCgroup: null,
      restore: { images, criu: criuPath },
    }),
    { instanceOf: ContainerStartError },
  );
  t.regex(error.message, /^`\/usr\/sbin\/runc restore` failed with exit code 1: /);
  t.deepEqual(await readdir(runtimeRoot).catch(() => []), []);
});
