import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCriPackage } from '../../src/cri/proto.js';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { cgroupfsParent, createBusyboxContainer, OWN_PID, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';

/**
 * The CRI metrics calls through the real crictl (`metricdescs`, `metricsp`)
 * and StreamPodSandboxMetrics through grpc-js, on runc: a pod whose
 * container burns CPU and holds memory must show it under the cAdvisor
 * names, every metric named by a descriptor with one label value per key.
 */

const source = sharedImageSource(test);
const MIB = 1024 * 1024;

interface Descriptor {
  name: string;
  help: string;
  labelKeys?: string[];
}
interface Metric {
  name: string;
  metricType?: 'COUNTER' | 'GAUGE';
  labelValues?: string[];
  value?: { value?: string };
}
interface PodMetrics {
  podSandboxId: string;
  metrics?: Metric[];
  containerMetrics?: Array<{ containerId: string; metrics?: Metric[] }>;
}

/** protojson leaves zero values out. */
const valueOf = (metric: Metric | undefined) => Number(metric?.value?.value ?? 0);

test('crictl metricdescs and metricsp show a burning, allocating container and its pod network under cAdvisor names; the stream gives the same pods', async (t) => {
  t.timeout(180_000);
  const daemon = await startDaemon(t, { config: source.daemonConfig('[runtime]', 'cgroup_driver = "cgroupfs"') });
  const parent = cgroupfsParent(t, daemon, 'metrics');

  const { descriptors } = await crictlJson<{ descriptors: Descriptor[] }>(daemon, ['metricdescs', '-o', 'json']);
  const byName = new Map(descriptors.map((descriptor) => [descriptor.name, descriptor]));
  for (const name of [
    'container_cpu_usage_seconds_total',
    'container_cpu_user_seconds_total',
    'container_cpu_system_seconds_total',
    'container_memory_usage_bytes',
    'container_memory_working_set_bytes',
    'container_memory_rss',
    'container_memory_cache',
    'container_memory_swap',
    'container_memory_failcnt',
    'container_spec_memory_limit_bytes',
    'container_spec_cpu_shares',
    'container_spec_cpu_quota',
    'container_spec_cpu_period',
    'container_threads',
    'container_network_receive_bytes_total',
    'container_network_transmit_packets_dropped_total',
    'container_last_seen',
    'container_start_time_seconds',
  ]) {
    t.truthy(byName.get(name)?.help, name);
  }
  t.deepEqual(byName.get('container_network_receive_bytes_total')?.labelKeys, ['id', 'image', 'namespace', 'pod', 'container', 'interface']);

  const { podId, podFile } = await runBusyboxPod(daemon, source, 'metrics-pod', { linux: { cgroup_parent: parent, security_context: OWN_PID } });
  // 32 MiB in a tmpfs file is charged to the container's memory cgroup; then CPU is burnt.
  const created = await createBusyboxContainer(
    daemon,
    source,
    podId,
    podFile,
    'burner',
    ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=32 && while :; do :; done'],
    { linux: { resources: { memory_limit_in_bytes: 256 * MIB, cpu_shares: 512 }, security_context: OWN_PID } },
  );
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);

  const podMetrics = async () => {
    const { podMetrics: pods } = await crictlJson<{ podMetrics?: PodMetrics[] }>(daemon, ['metricsp', '-o', 'json']);
    const entry = pods?.find((candidate) => candidate.podSandboxId === podId);
    if (!entry) throw new Error(`metricsp has no entry for ${podId}: ${JSON.stringify(pods)}`);
    return entry;
  };
  const containerMetric = (entry: PodMetrics, name: string) =>
    entry.containerMetrics?.find((candidate) => candidate.containerId === id)?.metrics?.find((metric) => metric.name === name);

  // CRI carries whole seconds: wait for the first one, then for the counter to move on.
  let first = await podMetrics();
  for (let attempt = 0; attempt < 60 && valueOf(containerMetric(first, 'container_cpu_usage_seconds_total')) < 1; attempt += 1) {
    await sleep(500);
    first = await podMetrics();
  }
  await sleep(2500);
  const second = await podMetrics();
  const cpuBefore = valueOf(containerMetric(first, 'container_cpu_usage_seconds_total'));
  const cpuAfter = valueOf(containerMetric(second, 'container_cpu_usage_seconds_total'));
  t.true(cpuBefore >= 1, `cpu ${cpuBefore}`);
  t.true(cpuAfter > cpuBefore, `cpu ${cpuBefore} → ${cpuAfter}`);
  t.true(cpuAfter <= cpuBefore + 2.5 * 2 + 1, 'no more than 2 cores × 2.5 s');
  t.true(valueOf(containerMetric(second, 'container_cpu_user_seconds_total')) >= 1);

  const cpu = containerMetric(second, 'container_cpu_usage_seconds_total');
  t.is(cpu?.metricType ?? 'COUNTER', 'COUNTER');
  t.deepEqual(cpu?.labelValues, [id, source.images.busybox.reference, 'crion-e2e', 'metrics-pod', 'burner', 'total']);
  const workingSet = containerMetric(second, 'container_memory_working_set_bytes');
  t.is(workingSet?.metricType, 'GAUGE');
  t.true(valueOf(workingSet) >= 32 * MIB && valueOf(workingSet) <= 256 * MIB, `working set ${valueOf(workingSet)}`);
  t.true(valueOf(containerMetric(second, 'container_memory_usage_bytes')) >= valueOf(workingSet));
  t.is(valueOf(containerMetric(second, 'container_spec_memory_limit_bytes')), 256 * MIB);
  t.is(valueOf(containerMetric(second, 'container_spec_cpu_shares')), 512);
  t.true(valueOf(containerMetric(second, 'container_threads')) >= 1);
  const lastSeen = valueOf(containerMetric(second, 'container_last_seen'));
  t.true(Math.abs(lastSeen - Date.now() / 1000) < 60, `last seen ${lastSeen}`);

  // The pod's network, from its namespace, labelled as the kubelet's cAdvisor path labels the pod's infra.
  const rx = second.metrics?.find((metric) => metric.name === 'container_network_receive_bytes_total');
  t.deepEqual(rx?.labelValues, [podId, '', 'crion-e2e', 'metrics-pod', 'POD', 'eth0']);
  t.truthy(second.metrics?.find((metric) => metric.name === 'container_network_transmit_packets_total' && metric.labelValues?.at(-1) === 'eth0'));

  // Every metric is described, with as many label values as its descriptor has keys.
  const all = [...(second.metrics ?? []), ...(second.containerMetrics ?? []).flatMap((entry) => entry.metrics ?? [])];
  t.true(all.length > 30);
  for (const metric of all) {
    t.is(metric.labelValues?.length, byName.get(metric.name)?.labelKeys?.length, metric.name);
  }

  // StreamPodSandboxMetrics: the same pods as the unary call.
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const streamed = await new Promise<PodMetrics[]>((resolve, reject) => {
    const items: PodMetrics[] = [];
    const stream = client.StreamPodSandboxMetrics({});
    stream.on('data', (message: { podSandboxMetrics?: PodMetrics[] }) => items.push(...(message.podSandboxMetrics ?? [])));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
  const unary = await new Promise<PodMetrics[]>((resolve, reject) =>
    client.ListPodSandboxMetrics({}, (error, response) => (error ? reject(error) : resolve((response?.podMetrics ?? []) as PodMetrics[]))),
  );
  t.deepEqual(
    streamed.map((entry) => entry.podSandboxId),
    unary.map((entry) => entry.podSandboxId),
  );
  t.deepEqual(
    streamed.map((entry) => entry.containerMetrics?.map((container) => container.containerId)),
    [[id]],
  );
  t.deepEqual(
    streamed.map((entry) => (entry.metrics ?? []).map((metric) => metric.name).sort()),
    unary.map((entry) => (entry.metrics ?? []).map((metric) => metric.name).sort()),
  );

  // A stopped container has no cgroup: it leaves the list while its pod stays.
  t.is((await crictl(daemon, ['stop', '--timeout', '0', id])).code, 0);
  t.deepEqual((await podMetrics()).containerMetrics ?? [], []);
});
