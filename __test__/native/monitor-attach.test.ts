/**
 * attachMonitor against the real crion-monitor and runc: a busybox
 * container's stdio through the TS client, stdin_once's close-stdin and a
 * terminal's resize included.
 */

import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { attachMonitor, type AttachOutput, type MonitorAttachment } from '../../src/container/monitor-attach.js';
import { launchMonitor, readExitFile } from '../../src/container/monitor.js';
import { FailedPreconditionError } from '../../src/errors.js';
import { monitorBinary } from '../../src/native/index.js';
import { program, root, testNeeding } from '../helpers/host-requirements.js';
import { run } from '../helpers/process.js';

const RUNC = '/usr/sbin/runc';
const runcTest = testNeeding(root, program(RUNC), program('/bin/busybox', ['true']));
const APPLETS = ['sh', 'cat', 'echo', 'stty'];
let next = 0;

interface Container {
  readonly id: string;
  readonly stateDir: string;
  readonly runtimeRoot: string;
}

/** A created (not started) busybox container running `script`, under its own monitor. */
async function createContainer(t: ExecutionContext, script: string, terminal: boolean): Promise<Container> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-attach-'));
  const id = `crion-attach-${process.pid}-${next++}`;
  const runtimeRoot = path.join(dir, 'runc');
  t.teardown(async () => {
    await run(RUNC, ['--root', runtimeRoot, 'delete', '-f', id]);
    await rm(dir, { recursive: true, force: true });
  });
  const rootfs = path.join(dir, 'bundle/rootfs');
  for (const sub of ['bin', 'proc', 'dev', 'sys', 'tmp']) await mkdir(path.join(rootfs, sub), { recursive: true });
  await copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  for (const applet of APPLETS) await link(path.join(rootfs, 'bin/busybox'), path.join(rootfs, 'bin', applet));
  const config = {
    ociVersion: '1.0.2',
    process: { terminal, user: { uid: 0, gid: 0 }, args: ['sh', '-c', script], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/', noNewPrivileges: true },
    root: { path: 'rootfs' },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    ],
    linux: { cgroupsPath: `/${id}`, namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
  };
  await writeFile(path.join(dir, 'bundle/config.json'), JSON.stringify(config));
  const stateDir = path.join(dir, 'state');
  await mkdir(stateDir);
  await launchMonitor({
    binary: monitorBinary(),
    containerId: id,
    bundle: path.join(dir, 'bundle'),
    stateDir,
    logPath: path.join(dir, 'container.log'),
    runtime: RUNC,
    runtimeRoot,
    terminal,
    stdin: true,
    memoryCgroup: null,
    restore: null,
  });
  return { id, stateDir, runtimeRoot };
}

async function start(container: Container): Promise<void> {
  const result = await run(RUNC, ['--root', container.runtimeRoot, 'start', container.id]);
  if (result.code !== 0) throw new Error(`runc start: ${result.stderr}`);
}

async function collect(attachment: MonitorAttachment): Promise<{ stdout: string; stderr: string }> {
  const text = { stdout: '', stderr: '' };
  for await (const item of attachment.output) text[(item as AttachOutput).stream] += (item as AttachOutput).data.toString();
  return text;
}

runcTest('stdin through attach reaches cat, close-stdin ends it, and the output and exit come back', async (t) => {
  const container = await createContainer(t, 'cat; echo cat-done >&2; exit 4', false);
  const attachment = await attachMonitor(container.stateDir);
  const watcher = await attachMonitor(container.stateDir);
  await start(container);
  const output = collect(attachment);
  const watched = collect(watcher);
  attachment.writeStdin(Buffer.from('hello\n'));
  attachment.closeStdin();

  t.deepEqual(await output, { stdout: 'hello\n', stderr: 'cat-done\n' });
  t.deepEqual(await watched, { stdout: 'hello\n', stderr: 'cat-done\n' });
  const exited = await attachment.exited;
  t.is(exited?.exitCode, 4);
  t.deepEqual(exited, await readExitFile(container.stateDir));
});

runcTest('a terminal container is resized and typed into through attach', async (t) => {
  const container = await createContainer(t, 'read line; stty size; echo "got $line"', true);
  const attachment = await attachMonitor(container.stateDir);
  await start(container);
  const output = collect(attachment);
  attachment.resize(33, 120);
  attachment.writeStdin(Buffer.from('typed\n'));
  const { stdout, stderr } = await output;
  t.true(stdout.endsWith('typed\r\n33 120\r\ngot typed\r\n'), JSON.stringify(stdout));
  t.is(stderr, '');
  t.is((await attachment.exited)?.exitCode, 0);
});

runcTest('attaching to an exited container fails as not running', async (t) => {
  const container = await createContainer(t, 'exit 0', false);
  await start(container);
  const attachment = await attachMonitor(container.stateDir).catch(() => null);
  // Attached before the exit or not: either way the session ends, then attaching is refused.
  if (attachment !== null) await collect(attachment);
  for (let tries = 0; (await readExitFile(container.stateDir)) === null && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 25));
  await t.throwsAsync(attachMonitor(container.stateDir), { instanceOf: FailedPreconditionError, message: 'the container is not running' });
});
