import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource, type ImageSource } from '../helpers/image-source.js';

/**
 * What an operator reads in the daemon's log: every pod and container transition at info level, naming the pod
 * by the kubelet's name and namespace; in `--log-format text`, one self-contained line per record.
 */

const source = sharedImageSource(test);

/** A pod whose container exits 3 on its own, then everything removed: each transition the lifecycle has. */
async function lifecycle(daemon: Daemon, source: ImageSource, name: string): Promise<{ podId: string; containerId: string }> {
  const { podId, podFile } = await runBusyboxPod(daemon, source, name);
  const created = await createBusyboxContainer(daemon, source, podId, podFile, 'worker', ['sh', '-c', 'exit 3']);
  if (created.code !== 0) throw new Error(created.stderr);
  const containerId = created.stdout.trim();
  if ((await crictl(daemon, ['start', containerId])).code !== 0) throw new Error(`start ${containerId}`);
  for (let tries = 0; tries < 100; tries++) {
    const { status } = await crictlJson<{ status: { state: string } }>(daemon, ['inspect', containerId]);
    if (status.state === 'CONTAINER_EXITED') break;
    await sleep(100);
  }
  for (const args of [
    ['rm', containerId],
    ['stopp', podId],
    ['rmp', podId],
  ]) {
    const result = await crictl(daemon, args);
    if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
  }
  return { podId, containerId };
}

test('every pod and container transition is an info line with the pod name and namespace', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig(), logLevel: 'info' });
  const { podId, containerId } = await lifecycle(daemon, source, 'logged');

  const podLines = daemon.logs().filter((line) => line.podSandboxId === podId && line.rpc === undefined && line.level === 'info');
  t.deepEqual(
    podLines.filter((line) => line.pod !== 'logged' || line.namespace !== 'crion-e2e'),
    [],
    'every info line about the pod names it',
  );
  t.deepEqual(
    podLines.filter((line) => line.msg?.startsWith('pod network')).map((line) => line.msg),
    ['pod network attached', 'pod network detached'],
  );
  const lifecycleLines = podLines.filter((line) => !line.msg?.startsWith('pod network'));
  t.deepEqual(
    lifecycleLines.map((line) => [line.msg, line.pod, line.namespace, line.container ?? null]),
    [
      ['pod started', 'logged', 'crion-e2e', null],
      ['container created', 'logged', 'crion-e2e', 'worker'],
      ['container started', 'logged', 'crion-e2e', 'worker'],
      ['container exited', 'logged', 'crion-e2e', 'worker'],
      ['container removed', 'logged', 'crion-e2e', 'worker'],
      ['pod stopped', 'logged', 'crion-e2e', null],
      ['pod removed', 'logged', 'crion-e2e', null],
    ],
  );
  t.like(lifecycleLines[3], { containerId, exitCode: 3, reason: 'Error' });
  t.like(lifecycleLines[1], { containerId, image: source.images.busybox.reference });
});

test('--log-format text writes one line per record, with the transitions readable as key=value', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig(), logLevel: 'info', args: ['--log-format', 'text'], waitForServingLog: false });
  await daemon.waitReady();
  const { podId, containerId } = await lifecycle(daemon, source, 'texted');
  const lines = daemon.stderr.trimEnd().split('\n');
  const malformed = lines.filter((line) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/.test(line));
  t.deepEqual(malformed, [], 'every line is a whole record');
  t.true(lines.some((line) => line.includes(' INFO  serving CRI listen=unix://')));
  const started = lines.find((line) => line.includes(' container started '));
  t.regex(
    started ?? '',
    new RegExp(
      `INFO  container started pod=texted namespace=crion-e2e podUid=texted-uid podAttempt=0 podSandboxId=${podId} container=worker attempt=0 containerId=${containerId} containerPid=\\d+$`,
    ),
  );
  t.regex(lines.find((line) => line.includes(' container exited ')) ?? '', / pod=texted namespace=crion-e2e .* exitCode=3 reason=Error$/);
  t.true(
    lines.some((line) => line.endsWith(`INFO  pod removed pod=texted namespace=crion-e2e podUid=texted-uid podAttempt=0 podSandboxId=${podId}`)),
  );
});
