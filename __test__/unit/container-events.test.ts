import test from 'ava';
import { status } from '@grpc/grpc-js';
import type { ContainerRecord } from '../../src/container/container-record.js';
import { containerEventRpcs } from '../../src/cri/container-events-rpc.js';
import type { MessageSink, RpcContext } from '../../src/cri/rpc.js';
import { toGrpcStatus } from '../../src/cri/status-codes.js';
import { CancelledError, ResourceExhaustedError } from '../../src/errors.js';
import { ContainerEvents, SlowSubscriberError, type ContainerEvent, type Subscription } from '../../src/events/container-events.js';
import type { ContainerEventResponse } from '../../src/generated/runtime/v1/ContainerEventResponse.js';
import { createLogger } from '../../src/log/logger.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';
import { containerRecord } from '../helpers/container-fixtures.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/**
 * The container event publisher on its own (order, fan-out, bounded queues, slow subscribers dropped and
 * counted, publishing that never waits) and GetContainerEvents' handler on a fake sink.
 */

const log = createLogger({ level: 'fatal', format: 'json' });

function sandbox(id: string, state: SandboxRecord['state'] = 'SANDBOX_READY'): SandboxRecord {
  return sandboxRecord(id, { state, createdAt: '1', runtimeHandler: 'runc', ips: ['10.0.0.2'] });
}

function container(id: string, sandboxId: string, state: ContainerRecord['state']): ContainerRecord {
  return containerRecord(id, sandboxId, { state });
}

/** A publisher over a mutable world of one or more pods, with a clock that stands still unless a test moves it. */
function world(queueSize = 8) {
  const pods = new Map<string, SandboxRecord>([['pod1', sandbox('pod1')]]);
  const containers = new Map<string, ContainerRecord>();
  let snapshots = 0;
  const events = new ContainerEvents({
    sandbox: (id) => pods.get(id),
    containersOf: (id) => {
      snapshots += 1;
      return [...containers.values()].filter((record) => record.sandboxId === id);
    },
    queueSize,
    log,
    now: () => 1_000_000_000n,
  });
  return { events, pods, containers, snapshots: () => snapshots };
}

/** Whatever the subscription has queued right now, without waiting for more. */
async function drain(subscription: Subscription, count: number): Promise<ContainerEvent[]> {
  const got: ContainerEvent[] = [];
  for (let i = 0; i < count; i += 1) got.push((await subscription.next())!);
  return got;
}

const summary = (event: ContainerEvent) => `${event.type} ${event.containerId}`;

test('every subscriber gets every event in the order it was published, each with the pod as it was then', async (t) => {
  const { events, containers } = world();
  const first = events.subscribe();
  const second = events.subscribe();
  containers.set('c1', container('c1', 'pod1', 'CONTAINER_CREATED'));
  events.publish('CONTAINER_CREATED_EVENT', 'c1', 'pod1');
  containers.set('c1', container('c1', 'pod1', 'CONTAINER_RUNNING'));
  events.publish('CONTAINER_STARTED_EVENT', 'c1', 'pod1');
  containers.set('c2', container('c2', 'pod1', 'CONTAINER_CREATED'));
  events.publish('CONTAINER_CREATED_EVENT', 'c2', 'pod1');
  containers.set('c1', container('c1', 'pod1', 'CONTAINER_EXITED'));
  events.publish('CONTAINER_STOPPED_EVENT', 'c1', 'pod1');
  containers.delete('c1');
  events.publish('CONTAINER_DELETED_EVENT', 'c1', 'pod1');

  const expected = [
    'CONTAINER_CREATED_EVENT c1',
    'CONTAINER_STARTED_EVENT c1',
    'CONTAINER_CREATED_EVENT c2',
    'CONTAINER_STOPPED_EVENT c1',
    'CONTAINER_DELETED_EVENT c1',
  ];
  const got = await drain(first, 5);
  t.deepEqual(got.map(summary), expected);
  t.deepEqual((await drain(second, 5)).map(summary), expected);

  // Snapshots, not views: the first event still shows c1 as created although it has gone since.
  t.deepEqual(
    got.map((event) => event.containers.map((record) => `${record.id}:${record.state}`)),
    [
      ['c1:CONTAINER_CREATED'],
      ['c1:CONTAINER_RUNNING'],
      ['c1:CONTAINER_RUNNING', 'c2:CONTAINER_CREATED'],
      ['c1:CONTAINER_EXITED', 'c2:CONTAINER_CREATED'],
      ['c2:CONTAINER_CREATED'],
    ],
  );
  t.true(got.every((event) => event.sandbox.id === 'pod1'));
  // The clock stood still, yet each event is later than the one before: the kubelet keeps the newest status.
  t.deepEqual(
    got.map((event) => event.createdAt),
    ['1000000000', '1000000001', '1000000002', '1000000003', '1000000004'],
  );
});

test('a subscriber sees only what is published after it subscribed', async (t) => {
  const { events } = world();
  const early = events.subscribe();
  events.publish('CONTAINER_CREATED_EVENT', 'c1', 'pod1');
  const late = events.subscribe();
  events.publish('CONTAINER_STARTED_EVENT', 'c1', 'pod1');
  t.deepEqual((await drain(early, 2)).map(summary), ['CONTAINER_CREATED_EVENT c1', 'CONTAINER_STARTED_EVENT c1']);
  t.deepEqual((await drain(late, 1)).map(summary), ['CONTAINER_STARTED_EVENT c1']);
});

test('a subscriber whose queue fills is dropped with RESOURCE_EXHAUSTED and counted; the others keep every event', async (t) => {
  const { events } = world(3);
  const reader = events.subscribe();
  const stalled = events.subscribe();
  const read: string[] = [];
  for (let i = 0; i < 10; i += 1) {
    events.publish('CONTAINER_CREATED_EVENT', `c${i}`, 'pod1');
    read.push(summary((await reader.next())!));
  }
  t.is(read.length, 10);
  t.deepEqual(
    read,
    Array.from({ length: 10 }, (_, i) => `CONTAINER_CREATED_EVENT c${i}`),
  );

  await stalled.ended;
  const error = await t.throwsAsync(stalled.next(), { instanceOf: SlowSubscriberError });
  t.true(error instanceof ResourceExhaustedError);
  t.is(toGrpcStatus(error).status.code, status.RESOURCE_EXHAUSTED);
  t.regex(error.message, /fell 3 events behind/);
  // Dropped on the 4th event, not before: three fit its queue.
  t.deepEqual(events.counters(), { subscribers: 1, droppedSubscribers: 1, published: 10 });
});

test('publishing is synchronous and does not wait for anyone: a subscriber that never reads costs a bounded queue', (t) => {
  const { events } = world(16);
  const stalled = [events.subscribe(), events.subscribe()];
  let returned = 0;
  for (let i = 0; i < 10_000; i += 1) {
    const outcome: unknown = events.publish('CONTAINER_STARTED_EVENT', `c${i % 7}`, 'pod1');
    t.is(outcome, undefined, 'no promise to wait for');
    returned += 1;
  }
  // All 10,000 returned in one synchronous run, in which nobody could read: both were dropped, nothing waited.
  t.is(returned, 10_000);
  t.deepEqual(events.counters(), { subscribers: 0, droppedSubscribers: 2, published: 10_000 });
  t.is(stalled.length, 2);
});

test('closing a subscription unsubscribes it: its reader gets null, and with nobody subscribed no snapshot is taken', async (t) => {
  const { events, snapshots } = world();
  const subscription = events.subscribe();
  const waiting = subscription.next();
  subscription.close();
  t.is(await waiting, null);
  t.deepEqual(events.counters(), { subscribers: 0, droppedSubscribers: 0, published: 0 });
  events.publish('CONTAINER_CREATED_EVENT', 'c1', 'pod1');
  t.is(snapshots(), 0);
  t.is(events.counters().published, 1);
});

test("a pod's removal is published with its last record, which the store no longer has; an event for a pod already gone is not", async (t) => {
  const { events, pods } = world();
  const subscription = events.subscribe();
  const last = { ...sandbox('pod1'), state: 'SANDBOX_NOTREADY' as const };
  pods.delete('pod1');
  events.publish('CONTAINER_STOPPED_EVENT', 'c1', 'pod1');
  events.publish('CONTAINER_DELETED_EVENT', 'pod1', 'pod1', last);
  const event = (await subscription.next())!;
  t.is(summary(event), 'CONTAINER_DELETED_EVENT pod1');
  t.is(event.sandbox.state, 'SANDBOX_NOTREADY');
});

test('close() at shutdown ends every subscription', async (t) => {
  const { events } = world();
  const subscriptions = [events.subscribe(), events.subscribe()];
  events.close();
  t.deepEqual(await Promise.all(subscriptions.map((subscription) => subscription.next())), [null, null]);
  t.is(events.counters().subscribers, 0);
});

/** A sink that takes `room` messages, then reports backpressure and never drains until `drain()` is called. */
function fakeSink(room: number) {
  const sent: ContainerEventResponse[] = [];
  let release: (() => void) | null = null;
  const sink: MessageSink<ContainerEventResponse> = {
    send: (message) => {
      sent.push(message);
      return sent.length < room;
    },
    drained: () => new Promise<void>((resolve) => (release = resolve)),
  };
  return { sink, sent, drain: () => release?.() };
}

function context(): { context: RpcContext; cancel: () => void } {
  const controller = new AbortController();
  return {
    context: { log, signal: controller.signal },
    cancel: () => controller.abort(new CancelledError('GetContainerEvents was cancelled by the client')),
  };
}

const GetContainerEvents = (events: ContainerEvents) => containerEventRpcs({ events }).GetContainerEvents!;

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("GetContainerEvents sends each event as CRI builds it, with the pod status and its containers' statuses newest first", async (t) => {
  const { events, containers } = world();
  const { sink, sent } = fakeSink(100);
  const { context: ctx, cancel } = context();
  const call = GetContainerEvents(events)({}, sink, ctx);
  containers.set('c1', { ...container('c1', 'pod1', 'CONTAINER_RUNNING'), createdAt: '1000000000000000005' });
  containers.set('c0', { ...container('c0', 'pod1', 'CONTAINER_EXITED'), createdAt: '999999999999999999' });
  events.publish('CONTAINER_STARTED_EVENT', 'c1', 'pod1');
  await tick();
  t.is(sent.length, 1);
  t.like(sent[0], {
    containerId: 'c1',
    containerEventType: 'CONTAINER_STARTED_EVENT',
    createdAt: '1000000000',
    podSandboxStatus: { id: 'pod1', state: 'SANDBOX_READY', metadata: { name: 'pod1', uid: 'pod1-uid', namespace: 'default', attempt: 0 } },
  });
  t.deepEqual(
    sent[0]!.containersStatuses!.map((status) => [status.id, status.state]),
    [
      ['c1', 'CONTAINER_RUNNING'],
      ['c0', 'CONTAINER_EXITED'],
    ],
    'newest first, as the kubelet reads them',
  );
  t.is(sent[0]!.podSandboxStatus!.network!.ip, '10.0.0.2');

  cancel();
  await t.throwsAsync(call, { instanceOf: CancelledError });
  t.is(events.counters().subscribers, 0, 'unsubscribed when the client left');
});

test('GetContainerEvents waits for a client that reads slowly, and one that stops reading ends RESOURCE_EXHAUSTED', async (t) => {
  const { events } = world(4);
  const slow = fakeSink(2);
  const { context: ctx } = context();
  const call = GetContainerEvents(events)({}, slow.sink, ctx);
  const outcome = call.then(
    () => 'ended',
    (error: unknown) => error,
  );
  for (let i = 0; i < 4; i += 1) events.publish('CONTAINER_CREATED_EVENT', `c${i}`, 'pod1');
  await tick();
  t.is(slow.sent.length, 2, 'nothing more is sent before the client has read');
  slow.drain();
  await tick();
  t.is(slow.sent.length, 3, 'one more once it has: the sink reports backpressure again at once');

  // It stops reading for good; the publisher fills its queue and drops it.
  for (let i = 4; i < 20; i += 1) events.publish('CONTAINER_CREATED_EVENT', `c${i}`, 'pod1');
  const error = await outcome;
  t.true(error instanceof SlowSubscriberError);
  t.is(toGrpcStatus(error).status.code, status.RESOURCE_EXHAUSTED);
  t.deepEqual(events.counters(), { subscribers: 0, droppedSubscribers: 1, published: 20 });
  t.deepEqual(
    slow.sent.map((message) => message.containerId),
    ['c0', 'c1', 'c2'],
    'what it got, it got in order',
  );
});
