import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ContainerRecord } from '../../src/container/container-record.js';
import { FailedPreconditionError, PluginRefusedError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { Multiplex, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN } from '../../src/nri/multiplex.js';
import { PLUGIN_SERVICE, RUNTIME_SERVICE, decode, encode } from '../../src/nri/nri-api.js';
import { NriPlugins } from '../../src/nri/nri-plugins.js';
import { TtrpcChannel, TtrpcError, type TtrpcHandler } from '../../src/nri/ttrpc.js';
import { containerConfig } from '../helpers/oci-fixtures.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/** NriPlugins against plugins written here over the real socket, mux and ttRPC: what containerd/nri's stub does, in short. */

type Answer = (request: Record<string, unknown>) => object;

interface FakePlugin {
  /** Method and the pod or container ID, in the order received. */
  readonly calls: string[];
  /** Per method: what to answer; throwing fails the call. */
  readonly answers: Map<string, Answer>;
  readonly synchronized: Promise<{ pods: string[]; containers: string[] }>;
  disconnect(): void;
}

async function fixture(t: { teardown(fn: () => Promise<void> | void): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-nri-plugins-'));
  const socketPath = path.join(dir, 'nri.sock');
  const pod = sandboxRecord('pod1', { ips: ['10.0.0.2'] });
  const container = {
    id: 'ctr1',
    sandboxId: 'pod1',
    state: 'CONTAINER_RUNNING',
    pid: 42,
    infra: false,
    image: 'busybox',
    metadata: { name: 'app', attempt: 0 },
    createdAt: '1000',
    startedAt: '2000',
    finishedAt: '0',
    exitCode: 0,
    config: containerConfig({ command: ['sleep'], args: ['1'] }),
  } as unknown as ContainerRecord;
  const plugins = new NriPlugins({
    socketPath,
    runtimeName: 'crion',
    runtimeVersion: 'test',
    snapshot: () => ({ pods: [pod], containers: [container] }),
    log: createLogger({ level: 'fatal', format: 'json', destination: new PassThrough() }),
  });
  await plugins.listen();
  t.teardown(async () => {
    await plugins.close();
    await rm(dir, { recursive: true, force: true });
  });

  const connect = async (name: string, index: string, events = 0, synchronize?: Answer): Promise<FakePlugin> => {
    const socket = net.connect(socketPath);
    await new Promise((resolve) => socket.once('connect', resolve));
    const mux = new Multiplex(socket);
    const calls: string[] = [];
    const answers = new Map<string, Answer>(synchronize ? [['Synchronize', synchronize]] : []);
    let synchronized: (state: { pods: string[]; containers: string[] }) => void = () => {};
    const handler =
      (method: string, requestType: string, responseType: string): TtrpcHandler =>
      (payload) => {
        const request = decode<Record<string, unknown>>(requestType, payload);
        const subject = (request.container as { id?: string } | null)?.id ?? (request.pod as { id?: string } | null)?.id ?? '';
        calls.push(subject === '' ? method : `${method} ${subject}`);
        if (method === 'Synchronize') {
          synchronized({
            pods: (request.pods as Array<{ id: string }>).map((p) => p.id),
            containers: (request.containers as Array<{ id: string }>).map((c) => c.id),
          });
        }
        try {
          return Promise.resolve(encode(responseType, answers.get(method)?.(request) ?? (method === 'Configure' ? { events } : {})));
        } catch (error) {
          return Promise.reject(new TtrpcError(2, (error as Error).message));
        }
      };
    const methods = [
      'Configure',
      'Synchronize',
      'RunPodSandbox',
      'StopPodSandbox',
      'RemovePodSandbox',
      'CreateContainer',
      'StartContainer',
      'StopContainer',
      'RemoveContainer',
    ];
    new TtrpcChannel(
      mux.open(PLUGIN_SERVICE_CONN),
      new Map(methods.map((method) => [`${PLUGIN_SERVICE}/${method}`, handler(method, `${method}Request`, `${method}Response`)])),
    );
    const runtime = new TtrpcChannel(mux.open(RUNTIME_SERVICE_CONN));
    const state = new Promise<{ pods: string[]; containers: string[] }>((resolve) => (synchronized = resolve));
    await runtime.call(RUNTIME_SERVICE, 'RegisterPlugin', encode('RegisterPluginRequest', { pluginName: name, pluginIdx: index }), 1000);
    await state;
    // The plugin is in the dispatch list once its Synchronize answer is in.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { calls, answers, synchronized: state, disconnect: () => mux.close() };
  };
  return { plugins, pod, container, connect };
}

test('a plugin registers, is configured, synchronized with what there is, then told of events in plugin index order', async (t) => {
  const { plugins, pod, container, connect } = await fixture(t);
  const late = await connect('late', '10');
  const early = await connect('early', '00');
  t.deepEqual(await early.synchronized, { pods: ['pod1'], containers: ['ctr1'] });
  t.deepEqual(early.calls, ['Configure', 'Synchronize']);

  const order: string[] = [];
  late.answers.set('StartContainer', () => (order.push('late'), {}));
  early.answers.set('StartContainer', () => (order.push('early'), {}));
  await plugins.startContainer(pod, container);
  t.deepEqual(order, ['early', 'late']);
});

test("a plugin's error fails RunPodSandbox and CreateContainer before anything is recorded", async (t) => {
  const { plugins, pod, container, connect } = await fixture(t);
  const plugin = await connect('vetoes', '00');
  plugin.answers.set('RunPodSandbox', () => {
    throw new Error('induced failure');
  });
  plugin.answers.set('CreateContainer', () => {
    throw new Error('induced failure');
  });
  let committed = 0;
  const commit = () => Promise.resolve((committed += 1));
  await t.throwsAsync(plugins.runPodSandbox(pod, commit), {
    instanceOf: PluginRefusedError,
    message: /00-vetoes failed RunPodSandbox: induced failure/,
  });
  await t.throwsAsync(plugins.createContainer(pod, container, commit), { instanceOf: PluginRefusedError });
  t.is(committed, 0);
});

test('an adjustment or update crion cannot apply fails CreateContainer with FAILED_PRECONDITION; an empty one does not', async (t) => {
  const { plugins, pod, container, connect } = await fixture(t);
  const plugin = await connect('adjusts', '00');
  plugin.answers.set('CreateContainer', () => ({ adjust: {} }));
  t.is(await plugins.createContainer(pod, container, () => Promise.resolve('made')), 'made');
  plugin.answers.set('CreateContainer', () => ({ adjust: { env: [{ key: 'A', value: 'b' }] } }));
  await t.throwsAsync(
    plugins.createContainer(pod, container, () => Promise.resolve('made')),
    { instanceOf: FailedPreconditionError },
  );
  plugin.answers.set('CreateContainer', () => ({ update: [{ containerId: 'other' }] }));
  await t.throwsAsync(
    plugins.createContainer(pod, container, () => Promise.resolve('made')),
    { instanceOf: FailedPreconditionError },
  );
});

test('stops are told once, and before the removal, whichever path reports them', async (t) => {
  const { plugins, pod, container, connect } = await fixture(t);
  const plugin = await connect('watcher', '00');
  await Promise.all([plugins.stopContainer(pod, container), plugins.stopContainer(pod, container)]);
  await plugins.removeContainer(pod, container);
  await plugins.stopPodSandbox(pod);
  await plugins.stopPodSandbox(pod);
  await plugins.removePodSandbox(pod);
  t.deepEqual(plugin.calls.slice(2), ['StopContainer ctr1', 'RemoveContainer ctr1', 'StopPodSandbox pod1', 'RemovePodSandbox pod1']);
});

test('a plugin subscribed to some events hears only those; one that disconnects is dropped and fails nothing', async (t) => {
  const { plugins, pod, container, connect } = await fixture(t);
  // Bit (event - 1): RUN_POD_SANDBOX (1) only.
  const picky = await connect('picky', '00', 1);
  await plugins.startContainer(pod, container);
  await plugins.runPodSandbox(pod, () => Promise.resolve());
  t.deepEqual(picky.calls.slice(2), ['RunPodSandbox pod1']);
  picky.answers.set('CreateContainer', () => {
    throw new Error('never asked');
  });
  picky.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(await plugins.runPodSandbox(pod, () => Promise.resolve('ok')), 'ok');
});

test('a socket another process answers on is not taken over', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-nri-busy-'));
  const socketPath = path.join(dir, 'nri.sock');
  const other = net.createServer();
  await new Promise<void>((resolve) => other.listen(socketPath, resolve));
  t.teardown(async () => {
    await new Promise<void>((resolve) => other.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const second = new NriPlugins({
    socketPath,
    runtimeName: 'crion',
    runtimeVersion: 'test',
    snapshot: () => ({ pods: [], containers: [] }),
    log: createLogger({ level: 'fatal', format: 'json', destination: new PassThrough() }),
  });
  await t.throwsAsync(second.listen(), { instanceOf: FailedPreconditionError, message: /another process serves NRI/ });
});

test('a plugin that asks for container updates in its Synchronize is not taken on', async (t) => {
  const { plugins, pod, connect } = await fixture(t);
  const plugin = await connect('updater', '00', 0, () => ({ update: [{ containerId: 'ctr1' }] }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  await plugins.runPodSandbox(pod, () => Promise.resolve());
  t.deepEqual(plugin.calls, ['Configure', 'Synchronize']);
});
