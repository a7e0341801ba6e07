import test from 'ava';
import { PassThrough } from 'node:stream';
import type { ContainerRecord } from '../../src/container/container-record.js';
import { lifecycleFanOut, type ContainerEventType } from '../../src/events/container-events.js';
import { LifecycleLog } from '../../src/events/lifecycle-log.js';
import { createLogger } from '../../src/log/logger.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';
import { containerRecord } from '../helpers/container-fixtures.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/** The operator's lifecycle lines: one per transition, naming the pod by the kubelet's name and namespace. */

function lifecycleLog() {
  const output = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  output.on('data', (chunk: Buffer) =>
    chunk
      .toString()
      .trim()
      .split('\n')
      .forEach((line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
  );
  const pods = new Map<string, SandboxRecord>([
    ['pod1', sandboxRecord('pod1', { metadata: { name: 'web', namespace: 'shop', uid: 'u1', attempt: 2 }, ips: ['10.0.0.5'] })],
  ]);
  const containers = new Map<string, ContainerRecord>();
  const log = new LifecycleLog({
    sandbox: (id) => pods.get(id),
    container: (id) => containers.get(id),
    log: createLogger({ level: 'info', format: 'json', destination: output }),
  });
  return { log, pods, containers, lines };
}

test('a pod start, stop and removal are each one info line with the pod name and namespace', (t) => {
  const { log, pods, lines } = lifecycleLog();
  log.publish('CONTAINER_CREATED_EVENT', 'pod1', 'pod1');
  log.publish('CONTAINER_STARTED_EVENT', 'pod1', 'pod1');
  log.publish('CONTAINER_STOPPED_EVENT', 'pod1', 'pod1');
  const last = pods.get('pod1')!;
  pods.delete('pod1');
  log.publish('CONTAINER_DELETED_EVENT', 'pod1', 'pod1', last);
  t.deepEqual(
    lines.map((line) => [line.level, line.msg, line.pod, line.namespace, line.podSandboxId]),
    [
      ['info', 'pod started', 'web', 'shop', 'pod1'],
      ['info', 'pod stopped', 'web', 'shop', 'pod1'],
      ['info', 'pod removed', 'web', 'shop', 'pod1'],
    ],
  );
  t.like(lines[0], { podUid: 'u1', podAttempt: 2, ips: '10.0.0.5', hostNetwork: false });
});

test("a container's transitions name it, its pod and namespace, and its exit says code and reason", (t) => {
  const { log, containers, lines } = lifecycleLog();
  const steps: Array<[ContainerEventType, Partial<ContainerRecord>]> = [
    ['CONTAINER_CREATED_EVENT', { state: 'CONTAINER_CREATED' }],
    ['CONTAINER_STARTED_EVENT', { state: 'CONTAINER_RUNNING', pid: 4321 }],
    ['CONTAINER_STOPPED_EVENT', { state: 'CONTAINER_EXITED', exitCode: 137, reason: 'OOMKilled' }],
  ];
  for (const [type, fields] of steps) {
    containers.set('c1', containerRecord('c1', 'pod1', { metadata: { name: 'app', attempt: 1 }, image: 'busybox:1.36', ...fields }));
    log.publish(type, 'c1', 'pod1');
  }
  const removed = containers.get('c1')!;
  containers.delete('c1');
  log.publish('CONTAINER_DELETED_EVENT', 'c1', 'pod1', undefined, removed);

  t.deepEqual(
    lines.map((line) => [line.msg, line.pod, line.namespace, line.container, line.containerId]),
    ['container created', 'container started', 'container exited', 'container removed'].map((msg) => [msg, 'web', 'shop', 'app', 'c1']),
  );
  t.like(lines[0], { image: 'busybox:1.36', attempt: 1 });
  t.like(lines[1], { containerPid: 4321 });
  t.like(lines[2], { exitCode: 137, reason: 'OOMKilled' });
});

test('a transition of a pod the store no longer has still names its IDs', (t) => {
  const { log, lines } = lifecycleLog();
  log.publish('CONTAINER_STOPPED_EVENT', 'c9', 'pod9');
  t.like(lines[0], { msg: 'container exited', podSandboxId: 'pod9', containerId: 'c9' });
});

test('the fan-out tells every listener each transition, in order', (t) => {
  const heard: string[] = [];
  const listener = (name: string) => ({
    publish: (type: ContainerEventType, containerId: string) => void heard.push(`${name}:${type}:${containerId}`),
  });
  lifecycleFanOut(listener('a'), listener('b')).publish('CONTAINER_STARTED_EVENT', 'c1', 'pod1');
  t.deepEqual(heard, ['a:CONTAINER_STARTED_EVENT:c1', 'b:CONTAINER_STARTED_EVENT:c1']);
});
