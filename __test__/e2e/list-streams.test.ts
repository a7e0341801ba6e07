import test from 'ava';
import type * as grpc from '@grpc/grpc-js';
import {
  call,
  containerConfig,
  createContainer,
  harnessImages,
  podConfig,
  runPod,
  setUp,
  useHarness,
  type Images,
  type Runtime,
} from '../helpers/leak-harness.js';

/**
 * The Stream* twins of the List RPCs (KEP-5825, the kubelet's CRIListStreaming
 * gate) against a real daemon: the same items as the unary call under the
 * same filter, each exactly once, in messages of at least one item, and a
 * list larger than one message's share split across several.
 */

useHarness(test);

type StreamMethod = (request: object) => grpc.ClientReadableStream<Record<string, unknown[]>>;

/** Every message of a server stream, once it has ended with OK. */
function collect(client: Runtime | Images, method: string, request: object): Promise<Array<Record<string, unknown[]>>> {
  return new Promise((resolve, reject) => {
    const stream = (client as unknown as Record<string, StreamMethod>)[method]!.call(client, request);
    const messages: Array<Record<string, unknown[]>> = [];
    stream.on('data', (message: Record<string, unknown[]>) => messages.push(message));
    stream.on('error', reject);
    stream.on('end', () => resolve(messages));
  });
}

async function streamed<T>(client: Runtime | Images, method: string, field: string, request: object): Promise<{ items: T[]; messages: number }> {
  const messages = await collect(client, method, request);
  for (const message of messages) if ((message[field] ?? []).length === 0) throw new Error(`${method} sent a message without items`);
  return { items: messages.flatMap((message) => (message[field] ?? []) as T[]), messages: messages.length };
}

const ids = (items: Array<{ id: string } | { attributes: { id: string } }>) =>
  items.map((item) => ('attributes' in item ? item.attributes.id : item.id)).sort();

test('each Stream RPC answers what its List twin answers under the same filter, in chunks that each carry items', async (t) => {
  t.timeout(300_000);
  const setup = await setUp(t);
  // Six pods whose annotations add up past one message's share, so the stream needs several.
  const bulky = { 'crion.test/bulk': 'x'.repeat(256 * 1024) };
  const pods: string[] = [];
  for (let i = 0; i < 6; i += 1) {
    const config = {
      ...podConfig(setup, `stream-${i}`, { sharedPid: false, cgroupParent: setup.cgroupfsParent }),
      labels: { app: i % 2 === 0 ? 'even' : 'odd' },
      annotations: bulky,
    };
    const podId = await runPod(setup, config);
    pods.push(podId);
    if (i < 3) {
      const containerId = await createContainer(setup, podId, config, {
        ...containerConfig(`worker-${i}`, ['sleep', '3600']),
        labels: { tier: i === 0 ? 'front' : 'back' },
      });
      if (i < 2) await call(setup.runtime, 'StartContainer', { containerId });
    }
  }

  const podFilters = [
    {},
    { filter: { labelSelector: { app: 'even' } } },
    { filter: { id: pods[1] } },
    { filter: { labelSelector: { app: 'none' } } },
  ];
  for (const request of podFilters) {
    const { items } = await call<{ items: Array<{ id: string }> }>(setup.runtime, 'ListPodSandbox', request);
    const stream = await streamed<{ id: string }>(setup.runtime, 'StreamPodSandboxes', 'podSandboxes', request);
    t.deepEqual(ids(stream.items), ids(items), JSON.stringify(request));
    t.is(new Set(ids(stream.items)).size, stream.items.length, 'no pod twice');
  }
  const all = await streamed<{ id: string }>(setup.runtime, 'StreamPodSandboxes', 'podSandboxes', {});
  t.true(all.messages >= 2, `six pods of 256 KiB annotations came in ${all.messages} message(s)`);
  t.is((await streamed(setup.runtime, 'StreamPodSandboxes', 'podSandboxes', { filter: { labelSelector: { app: 'none' } } })).messages, 0);

  const containerFilters = [
    {},
    { filter: { state: { state: 'CONTAINER_RUNNING' } } },
    { filter: { podSandboxId: pods[0] } },
    { filter: { labelSelector: { tier: 'back' } } },
  ];
  for (const request of containerFilters) {
    const { containers } = await call<{ containers: Array<{ id: string }> }>(setup.runtime, 'ListContainers', request);
    const stream = await streamed<{ id: string }>(setup.runtime, 'StreamContainers', 'containers', request);
    t.deepEqual(ids(stream.items), ids(containers), JSON.stringify(request));
  }

  for (const request of [{}, { filter: { podSandboxId: pods[1] } }, { filter: { labelSelector: { tier: 'front' } } }]) {
    const { stats } = await call<{ stats: Array<{ attributes: { id: string } }> }>(setup.runtime, 'ListContainerStats', request);
    const stream = await streamed<{ attributes: { id: string } }>(setup.runtime, 'StreamContainerStats', 'containerStats', request);
    t.deepEqual(ids(stream.items), ids(stats), JSON.stringify(request));
  }

  for (const request of [{}, { filter: { labelSelector: { app: 'odd' } } }]) {
    const { stats } = await call<{ stats: Array<{ attributes: { id: string } }> }>(setup.runtime, 'ListPodSandboxStats', request);
    const stream = await streamed<{ attributes: { id: string } }>(setup.runtime, 'StreamPodSandboxStats', 'podSandboxStats', request);
    t.deepEqual(ids(stream.items), ids(stats), JSON.stringify(request));
  }

  const busybox = harnessImages().busybox.reference;
  for (const request of [{}, { filter: { image: { image: busybox } } }]) {
    const { images } = await call<{ images: Array<{ id: string }> }>(setup.images, 'ListImages', request);
    const stream = await streamed<{ id: string }>(setup.images, 'StreamImages', 'images', request);
    t.deepEqual(ids(stream.items), ids(images), JSON.stringify(request));
  }
});
