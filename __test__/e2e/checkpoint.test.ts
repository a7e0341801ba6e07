import test from 'ava';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { OWN_PID, runBusyboxPod, writeJson } from '../helpers/crictl-pods.js';
import { workingCriu } from '../helpers/criu.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { root, testNeeding } from '../helpers/host-requirements.js';
import { sharedImageSource } from '../helpers/image-source.js';

/**
 * CheckpointContainer and restore through CreateContainer from the archive,
 * driven by crictl as a user does it: the restored process carries on from
 * its checkpointed state, and bad requests get precise codes and leave
 * nothing behind.
 */

// With critest's stand-ins: a pod with a shared PID namespace runs their pause image as its infra container.
const source = sharedImageSource(test, { critestImages: true });
const withCriu = testNeeding(root, workingCriu);
const asRoot = testNeeding(root);

// Written through a rename, so a reader never sees the file truncated and empty. The image's /bin/yes is deleted
// first: the restored container must not get it back.
const COUNTER = ['sh', '-c', 'rm /bin/yes; i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done'];

async function createContainer(daemon: Daemon, podId: string, podFile: string, name: string, image: string, command: string[]) {
  const file = await writeJson(daemon, `${name}-container.json`, {
    metadata: { name },
    image: { image },
    command,
    log_path: `${name}.log`,
    linux: { security_context: OWN_PID },
  });
  return crictl(daemon, ['create', podId, file, podFile]);
}

async function count(daemon: Daemon, id: string): Promise<number> {
  const read = await crictl(daemon, ['exec', '-s', id, 'cat', '/tmp/count']);
  if (read.code !== 0) throw new Error(read.stderr);
  return Number(read.stdout.trim());
}

async function state(daemon: Daemon, id: string): Promise<string> {
  return (await crictlJson<{ status: { state: string } }>(daemon, ['inspect', id])).status.state;
}

withCriu('a checkpointed container keeps running, and one restored from its archive in another pod carries on counting', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const original = await runBusyboxPod(daemon, source, 'original');
  const created = await createContainer(daemon, original.podId, original.podFile, 'counter', source.images.busybox.reference, COUNTER);
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  while ((await count(daemon, id)) < 30) await sleep(200);

  const exported = path.join(daemon.dir, 'checkpoints');
  await mkdir(exported);
  const archive = path.join(exported, 'counter.tar');
  const before = await count(daemon, id);
  const checkpoint = await crictl(daemon, ['checkpoint', `--export=${archive}`, id]);
  t.is(checkpoint.code, 0, checkpoint.stderr);
  t.true((await stat(archive)).isFile());
  t.deepEqual(await readdir(exported), ['counter.tar'], 'no staging or partial files are left beside the archive');

  // --leave-running: the original carries on.
  await sleep(500);
  t.is(await state(daemon, id), 'CONTAINER_RUNNING');
  t.true((await count(daemon, id)) > before);
  t.is((await crictl(daemon, ['rm', '-f', id])).code, 0);

  const restoredPod = await runBusyboxPod(daemon, source, 'restored');
  const restored = await createContainer(daemon, restoredPod.podId, restoredPod.podFile, 'counter', archive, []);
  t.is(restored.code, 0, restored.stderr);
  const restoredId = restored.stdout.trim();
  t.is(await state(daemon, restoredId), 'CONTAINER_CREATED');
  const start = await crictl(daemon, ['start', restoredId]);
  t.is(start.code, 0, start.stderr);
  t.is(await state(daemon, restoredId), 'CONTAINER_RUNNING');
  // A process started afresh would be near 5 after half a second; the restored one goes on from past `before`.
  await sleep(500);
  const resumed = await count(daemon, restoredId);
  t.true(resumed > before, `the restored counter is at ${resumed}, the original was at ${before} before its checkpoint`);
  await sleep(500);
  t.true((await count(daemon, restoredId)) > resumed, 'and it keeps counting');
  const deleted = await crictl(daemon, ['exec', '-s', restoredId, 'test', '-e', '/bin/yes']);
  t.is(deleted.code, 1, 'the image file the original had deleted stays deleted');
  const kept = await crictl(daemon, ['exec', '-s', restoredId, 'test', '-e', '/bin/true']);
  t.is(kept.code, 0, kept.stderr);

  const { status, info } = await crictlJson<{ status: { image: { image: string } }; info: { pid: number } }>(daemon, ['inspect', restoredId]);
  t.is(status.image.image, source.images.busybox.reference, 'the restored container reports the image the checkpoint was made from');
  for (const kind of ['net', 'ipc', 'uts']) {
    const pinned = path.join(daemon.dir, 'state', 'pods', restoredPod.podId, 'ns', kind);
    t.is(
      (await stat(path.join('/proc', String(info.pid), 'ns', kind))).ino,
      (await stat(pinned)).ino,
      `the restored process is in its new pod's ${kind} namespace`,
    );
  }

  const stop = await crictl(daemon, ['stop', '--timeout', '0', restoredId]);
  t.is(stop.code, 0, stop.stderr);
  t.is(await state(daemon, restoredId), 'CONTAINER_EXITED');
});

withCriu('a container with a terminal in a shared-PID pod is restored with its pty, its log and the new pod as its PID namespace', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const sharedPid = { linux: { security_context: { namespace_options: { pid: 0 } } } };
  const original = await runBusyboxPod(daemon, source, 'tty-original', sharedPid);
  const config = (image: string, command: string[]) => ({
    metadata: { name: 'ticker' },
    image: { image },
    command,
    log_path: 'ticker.log',
    tty: true,
    ...sharedPid,
  });
  const ticker = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done'];
  const created = await crictl(daemon, [
    'create',
    original.podId,
    await writeJson(daemon, 'tty.json', config(source.images.busybox.reference, ticker)),
    original.podFile,
  ]);
  t.is(created.code, 0, created.stderr);
  t.is((await crictl(daemon, ['start', created.stdout.trim()])).code, 0);
  await sleep(1000);
  const archive = path.join(daemon.dir, 'tty.tar');
  const checkpoint = await crictl(daemon, ['checkpoint', `--export=${archive}`, created.stdout.trim()]);
  t.is(checkpoint.code, 0, checkpoint.stderr);

  const target = await runBusyboxPod(daemon, source, 'tty-restored', sharedPid);
  const restored = await crictl(daemon, ['create', target.podId, await writeJson(daemon, 'tty-restored.json', config(archive, [])), target.podFile]);
  t.is(restored.code, 0, restored.stderr);
  const id = restored.stdout.trim();
  const start = await crictl(daemon, ['start', id]);
  t.is(start.code, 0, start.stderr);
  await sleep(500);
  const pidOne = await crictl(daemon, ['exec', '-s', id, 'cat', '/proc/1/cmdline']);
  t.regex(pidOne.stdout, /pod-init-serve/, "PID 1 of the restored container's namespace is the new pod's init");
  // Only the restored process writes to the new container's log, through the pty its monitor holds; a pty line ends in \r.
  const { status } = await crictlJson<{ status: { logPath: string } }>(daemon, ['inspect', id]);
  const ticks = [...(await readFile(status.logPath, 'utf8')).matchAll(/ stdout F tick (\d+)\r$/gm)].map((match) => Number(match[1]));
  t.true(ticks.length > 0, 'the restored process writes its log');
  t.true(ticks[0]! > 5, `its first line in the new log goes on from the checkpoint: tick ${ticks[0]}`);
});

withCriu('a daemon that died between the restore and its record finds the restored container running, and follows it', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const original = await runBusyboxPod(daemon, source, 'crash-original');
  const created = await createContainer(daemon, original.podId, original.podFile, 'counter', source.images.busybox.reference, COUNTER);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  while ((await count(daemon, id)) < 10) await sleep(200);
  const archive = path.join(daemon.dir, 'crash.tar');
  t.is((await crictl(daemon, ['checkpoint', `--export=${archive}`, id])).code, 0);
  t.is((await crictl(daemon, ['rm', '-f', id])).code, 0);

  const target = await runBusyboxPod(daemon, source, 'crash-restored');
  const restored = await createContainer(daemon, target.podId, target.podFile, 'counter', archive, []);
  const restoredId = restored.stdout.trim();
  const recordFile = path.join(daemon.dir, 'root', 'containers', restoredId, 'container.json');
  const pending = JSON.parse(await readFile(recordFile, 'utf8')) as Record<string, unknown>;
  t.is((await crictl(daemon, ['start', restoredId])).code, 0);
  const { info } = await crictlJson<{ info: { pid: number } }>(daemon, ['inspect', restoredId]);

  // The record as a daemon killed after the monitor reported, but before saving the start, leaves it.
  const restarted = await daemon.restart('SIGKILL', () => writeFile(recordFile, JSON.stringify({ ...pending, startingAt: '1' })));
  t.teardown(() => restarted.dispose());
  const after = await crictlJson<{ status: { state: string; startedAt: string }; info: { pid: number } }>(restarted, ['inspect', restoredId]);
  t.is(after.status.state, 'CONTAINER_RUNNING');
  t.is(after.info.pid, info.pid);
  const value = await count(restarted, restoredId);
  await sleep(300);
  t.true((await count(restarted, restoredId)) > value, 'it runs on');
  // Followed again: its exit is recorded.
  t.is((await crictl(restarted, ['stop', '--timeout', '0', restoredId])).code, 0);
  t.is((await crictlJson<{ status: { state: string } }>(restarted, ['inspect', restoredId])).status.state, 'CONTAINER_EXITED');
});

withCriu('bad checkpoint requests get precise codes and leave nothing in the target directory', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { podId, podFile } = await runBusyboxPod(daemon, source, 'refusals');
  const exited = await createContainer(daemon, podId, podFile, 'done', source.images.busybox.reference, ['true']);
  t.is(exited.code, 0, exited.stderr);
  const exitedId = exited.stdout.trim();
  t.is((await crictl(daemon, ['start', exitedId])).code, 0);
  while ((await state(daemon, exitedId)) !== 'CONTAINER_EXITED') await sleep(100);
  const running = await createContainer(daemon, podId, podFile, 'sleeper', source.images.busybox.reference, ['sleep', '300']);
  const runningId = running.stdout.trim();
  t.is((await crictl(daemon, ['start', runningId])).code, 0);

  const target = path.join(daemon.dir, 'refused');
  await mkdir(target);
  // crictl quotes the status message inside its own, so a quote in it shows as \".
  const cases: Array<[string, string, RegExp]> = [
    ['0123456789abcdef', path.join(target, 'a.tar'), /code = NotFound desc = container \\"0123456789abcdef\\" not found/],
    [exitedId, path.join(target, 'b.tar'), /code = FailedPrecondition desc = container \w+ is exited, not running/],
    [runningId, 'relative.tar', /code = InvalidArgument desc = location must be an absolute path, not \\"relative.tar\\"/],
    [runningId, path.join(target, 'missing', 'c.tar'), /code = InvalidArgument desc = location .*missing is not an existing directory/],
    [runningId, target, /code = InvalidArgument desc = location .* is a directory/],
  ];
  for (const [id, location, expected] of cases) {
    const result = await crictl(daemon, ['checkpoint', `--export=${location}`, id]);
    t.not(result.code, 0, `${id} → ${location}`);
    t.regex(result.stderr, expected);
  }
  t.deepEqual(await readdir(target), []);
  t.is(await state(daemon, runningId), 'CONTAINER_RUNNING');
});

withCriu('CreateContainer from a file that is no checkpoint archive is INVALID_ARGUMENT and leaves no container', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { podId, podFile } = await runBusyboxPod(daemon, source, 'not-an-archive');
  const bogus = path.join(daemon.dir, 'bogus.tar');
  await writeFile(bogus, 'not a tar file');
  const created = await createContainer(daemon, podId, podFile, 'bogus', bogus, []);
  t.not(created.code, 0);
  t.regex(created.stderr, /code = InvalidArgument desc = .*bogus\.tar is not a checkpoint archive/);
  t.deepEqual(await readdir(path.join(daemon.dir, 'root', 'containers')), []);
  t.deepEqual(await readdir(path.join(daemon.dir, 'state', 'c')).catch(() => []), []);
});

asRoot('without a working CRIU, checkpoint and restore are FAILED_PRECONDITION naming why, and the daemon says so at start', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig('[runtime]', 'criu_path = "/nonexistent/criu"') });
  const warning = await daemon.waitForLog((line) => line.msg === 'checkpoint and restore unavailable until CRIU works');
  t.is(warning.reason, '/nonexistent/criu was not found (runtime.criu_path)');
  const { podId, podFile } = await runBusyboxPod(daemon, source, 'no-criu');
  const created = await createContainer(daemon, podId, podFile, 'sleeper', source.images.busybox.reference, ['sleep', '300']);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  const target = path.join(daemon.dir, 'no-criu');
  await mkdir(target);
  const reason =
    /code = FailedPrecondition desc = checkpoint and restore need a working CRIU: \/nonexistent\/criu was not found \(runtime.criu_path\)/;
  const checkpoint = await crictl(daemon, ['checkpoint', `--export=${path.join(target, 'a.tar')}`, id]);
  t.not(checkpoint.code, 0);
  t.regex(checkpoint.stderr, reason);
  t.deepEqual(await readdir(target), []);
  // Input is still checked first, so the codes are right on any host.
  t.regex((await crictl(daemon, ['checkpoint', '--export=relative.tar', id])).stderr, /code = InvalidArgument/);
  t.regex((await crictl(daemon, ['checkpoint', `--export=${path.join(target, 'b.tar')}`, 'f00d'])).stderr, /code = NotFound/);

  const archive = path.join(daemon.dir, 'some.tar');
  await writeFile(archive, 'an archive this daemon cannot restore anyway');
  const restore = await createContainer(daemon, podId, podFile, 'restored', archive, []);
  t.not(restore.code, 0);
  t.regex(restore.stderr, reason);
});
