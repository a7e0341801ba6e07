import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { loadCriPackage } from '../../src/cri/proto.js';
import { crictl, crictlDaemonFlags, crictlJson, crictlOk } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { toolFromEnv } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * GetContainerEvents against a real daemon: `crictl events` sees a container's and its pod's lifecycle in order,
 * each event with the pod's status and its containers' statuses; a client that stops reading is dropped with
 * RESOURCE_EXHAUSTED and counted while the daemon goes on serving everyone else.
 */

const source = sharedImageSource(test);
const cri = loadCriPackage();

interface CriEvent {
  containerId: string;
  containerEventType: string;
  createdAt: string;
  podSandboxStatus?: { id: string; state: string; metadata: { name: string; uid: string; namespace: string } };
  containersStatuses?: Array<{ id: string; state: string; exitCode?: number }>;
}

/** `crictl events -o json`, running until killed; `events()` parses the objects it has printed so far. */
function crictlEvents(t: ExecutionContext, daemon: Daemon) {
  const child = spawn(toolFromEnv('CRION_CRICTL'), [...crictlDaemonFlags(daemon), 'events', '-o', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.teardown(() => void child.kill('SIGKILL'));
  return {
    child,
    stderr: () => stderr,
    /**
     * Each printed object is indented JSON closed by a `}` alone on its line; what follows the last such line
     * is an object crictl is still printing, left for a later call.
     */
    events: (): CriEvent[] =>
      stdout
        .split(/^}$/m)
        .slice(0, -1)
        .map((chunk) => JSON.parse(`${chunk}}`) as CriEvent),
  };
}

/** The publisher's counters, as `crictl info` shows them. */
async function eventCounters(daemon: Daemon): Promise<{ subscribers: number; droppedSubscribers: number; published: number }> {
  const info = await crictlJson<{ containerEvents: { subscribers: number; droppedSubscribers: number; published: number } }>(daemon, ['info']);
  return info.containerEvents;
}

async function createBusybox(daemon: Daemon, podId: string, podFile: string, name: string, command: string[]): Promise<string> {
  const created = await createBusyboxContainer(daemon, source, podId, podFile, name, command);
  if (created.code !== 0) throw new Error(`crictl create ${name} exited ${created.code}: ${created.stderr}`);
  return created.stdout.trim();
}

test('crictl events sees a container created, started, stopped and deleted in order, then its pod, each with the pod status', async (t) => {
  t.timeout(180_000);
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const watcher = crictlEvents(t, daemon);
  await waitFor('crictl events to subscribe', async () => ((await eventCounters(daemon)).subscribers === 1 ? true : undefined));

  const { podId, podFile } = await runBusyboxPod(daemon, source, 'evented');
  const id = await createBusybox(daemon, podId, podFile, 'sleeper', ['sleep', '3600']);
  await crictlOk(daemon, ['start', id]);
  await crictlOk(daemon, ['stop', '--timeout', '0', id]);
  await crictlOk(daemon, ['rm', id]);
  await crictlOk(daemon, ['stopp', podId]);
  await crictlOk(daemon, ['rmp', podId]);

  const events = await waitFor('all eight events', () => {
    const printed = watcher.events();
    return printed.length >= 8 ? printed : undefined;
  });
  t.deepEqual(
    events.map(
      (event) => `${event.containerEventType} ${event.containerId === podId ? 'pod' : event.containerId === id ? 'container' : event.containerId}`,
    ),
    [
      'CONTAINER_CREATED_EVENT pod',
      'CONTAINER_STARTED_EVENT pod',
      'CONTAINER_CREATED_EVENT container',
      'CONTAINER_STARTED_EVENT container',
      'CONTAINER_STOPPED_EVENT container',
      'CONTAINER_DELETED_EVENT container',
      'CONTAINER_STOPPED_EVENT pod',
      'CONTAINER_DELETED_EVENT pod',
    ],
    watcher.stderr(),
  );
  t.is(events.length, 8);

  // Every event names the pod, as the kubelet needs to find it; the statuses are the pod as it was then.
  for (const event of events) {
    t.like(event.podSandboxStatus, { id: podId, metadata: { name: 'evented', uid: 'evented-uid', namespace: 'crion-e2e' } });
  }
  const states = events.map((event) => [event.podSandboxStatus?.state, (event.containersStatuses ?? []).map((status) => status.state).join(',')]);
  t.deepEqual(states, [
    ['SANDBOX_READY', ''],
    ['SANDBOX_READY', ''],
    ['SANDBOX_READY', 'CONTAINER_CREATED'],
    ['SANDBOX_READY', 'CONTAINER_RUNNING'],
    ['SANDBOX_READY', 'CONTAINER_EXITED'],
    ['SANDBOX_READY', ''],
    ['SANDBOX_NOTREADY', ''],
    ['SANDBOX_NOTREADY', ''],
  ]);
  t.true(events[4]!.containersStatuses!.every((status) => status.id === id));
  // Strictly increasing creation times in nanoseconds, in the range of now.
  const times = events.map((event) => BigInt(event.createdAt));
  for (let i = 1; i < times.length; i += 1) t.true(times[i]! > times[i - 1]!, `event ${i} is later than the one before`);
  t.true(times[0]! > BigInt(Date.now() - 600_000) * 1_000_000n);

  // The same statuses as PodSandboxStatus builds: a container's state there matches what its event said.
  const { podId: second, podFile: secondFile } = await runBusyboxPod(daemon, source, 'evented-again');
  const other = await createBusybox(daemon, second, secondFile, 'other', ['sleep', '3600']);
  const status = await crictlJson<{ status: { state: string }; containersStatuses?: Array<{ id: string; state: string }> }>(daemon, [
    'inspectp',
    second,
  ]);
  const lastEvent = await waitFor('the second pod container event', () =>
    watcher.events().find((event) => event.containerId === other && event.containerEventType === 'CONTAINER_CREATED_EVENT'),
  );
  t.deepEqual(
    lastEvent.containersStatuses?.map((entry) => [entry.id, entry.state]),
    [[other, 'CONTAINER_CREATED']],
  );
  t.is(status.status.state, 'SANDBOX_READY');
});

test('a subscriber that stops reading is dropped with RESOURCE_EXHAUSTED and counted; the daemon serves everyone else', async (t) => {
  t.timeout(300_000);
  // A queue of 4 beyond what the connection buffers, and events made large by the pod's annotations, fill up fast.
  const daemon = await startDaemon(t, { config: `${source.daemonConfig()}\n[events]\nsubscriber_queue_size = 4\n` });
  const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(() => client.close());

  const stalled = client.GetContainerEvents({});
  let received = 0;
  const ended = new Promise<grpc.ServiceError | 'ok'>((resolve) => {
    stalled.on('error', resolve);
    stalled.on('end', () => resolve('ok'));
  });
  // Reads one message, then no more: the stream is paused for good.
  stalled.once('data', () => {
    received += 1;
    stalled.pause();
  });
  const watcher = crictlEvents(t, daemon);
  await waitFor('both subscribers', async () => ((await eventCounters(daemon)).subscribers === 2 ? true : undefined));

  const { podId, podFile } = await runBusyboxPod(daemon, source, 'bulky', { annotations: { 'crion.test/bulk': 'x'.repeat(256 * 1024) } });
  // The daemon drops it once its queue is full; its status can only reach it behind what the connection holds for it.
  let lifecycles = 0;
  let counters = await eventCounters(daemon);
  while (counters.droppedSubscribers === 0 && lifecycles < 40) {
    const id = await createBusybox(daemon, podId, podFile, `churn-${lifecycles}`, ['sleep', '3600']);
    await crictlOk(daemon, ['start', id]);
    await crictlOk(daemon, ['stop', '--timeout', '0', id]);
    await crictlOk(daemon, ['rm', id]);
    lifecycles += 1;
    counters = await eventCounters(daemon);
  }
  t.like(counters, { droppedSubscribers: 1, subscribers: 1 }, `after ${lifecycles} container lifecycles`);
  t.is(received, 1, 'the stalled client read nothing more meanwhile');

  // Once it reads again it gets what was already on its way, then RESOURCE_EXHAUSTED: not the events since.
  stalled.on('data', () => (received += 1));
  stalled.resume();
  const outcome = await ended;
  t.not(outcome, 'ok');
  const error = outcome as grpc.ServiceError;
  t.is(error.code, grpc.status.RESOURCE_EXHAUSTED, error.message);
  t.regex(error.details, /fell 4 events behind/);
  const published = 2 + lifecycles * 4;
  t.true(received < published, `it got ${received} of the ${published} events published`);

  // The one that kept reading kept everything, in order, and the daemon goes on publishing to it.
  const last = await createBusybox(daemon, podId, podFile, 'after-the-drop', ['sleep', '3600']);
  const seen = await waitFor('the reader to see the container made after the drop', () => {
    const printed = watcher.events();
    return printed.some((event) => event.containerId === last) ? printed : undefined;
  });
  const containerEvents = seen.filter((event) => event.containerId !== podId);
  t.is(containerEvents.length, lifecycles * 4 + 1, 'four events per lifecycle and the last create, none lost');
  const byContainer = new Map<string, string[]>();
  for (const event of containerEvents) byContainer.set(event.containerId, [...(byContainer.get(event.containerId) ?? []), event.containerEventType]);
  const lifecycle = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
  t.deepEqual([...byContainer.values()], [...Array.from({ length: lifecycles }, () => lifecycle), ['CONTAINER_CREATED_EVENT']]);
  t.is((await crictl(daemon, ['version'])).code, 0, 'the daemon still answers');
});
