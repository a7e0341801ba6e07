import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ContainerRecord, ContainerState } from '../../src/container/container-manager.js';
import { metricsRpcs } from '../../src/cri/metrics-rpcs.js';
import type { MessageSink, RpcContext } from '../../src/cri/rpc.js';
import type { StreamPodSandboxMetricsResponse } from '../../src/generated/runtime/v1/StreamPodSandboxMetricsResponse.js';
import { createLogger } from '../../src/log/logger.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';
import { cgroupHierarchies } from '../../src/stats/cgroup-usage.js';
import { BASE_LABEL_KEYS, METRIC_DESCRIPTORS } from '../../src/stats/metric-descriptors.js';
import type { InterfaceUsage } from '../../src/stats/network-usage.js';
import { PodMetricsCollector, type MetricValue, type PodMetrics } from '../../src/stats/pod-metrics.js';
import { StatsCollector, type StatsContainers, type StatsSandboxes } from '../../src/stats/stats-collector.js';
import { WritableLayerUsage } from '../../src/stats/writable-layer-usage.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/** ListPodSandboxMetrics' content over fake records, a real StatsCollector and a fixture cgroup v1 tree. */

const log = createLogger({ level: 'error', format: 'json', destination: new PassThrough() });
const NOW = new Date('2026-01-02T03:04:05.678Z');
const ETH0: InterfaceUsage = {
  name: 'eth0',
  rxBytes: 1000n,
  rxPackets: 10n,
  rxErrors: 1n,
  rxDropped: 2n,
  txBytes: 2000n,
  txPackets: 20n,
  txErrors: 3n,
  txDropped: 4n,
};

function container(id: string, sandboxId: string, state: ContainerState, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    sandboxId,
    state,
    pid: 100,
    infra: false,
    image: 'registry.example/app:1',
    startedAt: '1700000000500000000',
    metadata: { name: `name-${id}`, attempt: 0 },
    config: { labels: {} },
    ...extra,
  } as unknown as ContainerRecord;
}

function sandbox(id: string, extra: Partial<SandboxRecord> = {}): SandboxRecord {
  return sandboxRecord(id, {
    cgroupParent: `/kubepods/${id}`,
    metadata: { name: `pod-${id}`, namespace: 'ns1', uid: `uid-${id}`, attempt: 0 },
    ...extra,
  });
}

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
}

/** A v1 container cgroup under its pod's parent, as runc makes it on this host. */
function v1Cgroup(dir: string, cpuNanos: bigint): Record<string, string> {
  return {
    [`cpuacct${dir}/cpuacct.usage`]: `${cpuNanos}\n`,
    [`cpuacct${dir}/cpuacct.stat`]: 'user 300\nsystem 100\n',
    [`cpu${dir}/cpu.stat`]: 'nr_periods 8\nnr_throttled 2\nthrottled_time 3500000000\n',
    [`cpu${dir}/cpu.shares`]: '256\n',
    [`cpu${dir}/cpu.cfs_quota_us`]: '20000\n',
    [`cpu${dir}/cpu.cfs_period_us`]: '100000\n',
    [`memory${dir}/memory.usage_in_bytes`]: '10485760\n',
    [`memory${dir}/memory.stat`]:
      'total_cache 2097152\ntotal_mapped_file 524288\ntotal_inactive_file 1048576\ntotal_rss 8388608\ntotal_pgfault 500\ntotal_pgmajfault 5\n',
    [`memory${dir}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`memory${dir}/memory.failcnt`]: '0\n',
    [`memory${dir}/memory.max_usage_in_bytes`]: '20971520\n',
    [`memory${dir}/memory.kmem.usage_in_bytes`]: '65536\n',
    [`memory${dir}/memory.memsw.usage_in_bytes`]: '10485760\n',
    [`memory${dir}/memory.memsw.limit_in_bytes`]: '9223372036854771712\n',
    [`memory${dir}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
    // A device no /sys/dev/block names: its label falls back to MAJ:MIN.
    [`blkio${dir}/blkio.throttle.io_service_bytes_recursive`]: '9999:0 Read 4096\n9999:0 Write 8192\n9999:0 Total 12288\nTotal 12288\n',
    [`blkio${dir}/blkio.throttle.io_serviced_recursive`]: '9999:0 Read 1\n9999:0 Write 2\n9999:0 Total 3\nTotal 3\n',
    [`pids${dir}/pids.current`]: '2\n',
    [`pids${dir}/pids.max`]: 'max\n',
    [`pids${dir}/cgroup.procs`]: '4242\n',
  };
}

async function fixture(
  t: { teardown(fn: () => Promise<void>): void },
  containers: ContainerRecord[],
  sandboxes: SandboxRecord[],
  options: { brokenCgroupOf?: string } = {},
) {
  const root = await mkdtemp(path.join(tmpdir(), 'crion-pod-metrics-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cgroupsPathLookups: string[] = [];
  const fakeContainers: StatsContainers = {
    list: (filter) => containers.filter((entry) => !entry.infra && (filter?.sandboxId == null || entry.sandboxId === filter.sandboxId)),
    find: (id) => containers.find((entry) => entry.id === id),
    writableLayerOf: (id) => path.join(root, 'layers', id),
    cgroupsPathOf: async (id) => {
      cgroupsPathLookups.push(id);
      if (id === options.brokenCgroupOf) throw new Error('bundle unreadable');
      const record = containers.find((entry) => entry.id === id);
      const parent = sandboxes.find((entry) => entry.id === record?.sandboxId)?.cgroupParent ?? '/crion';
      return record ? `${parent}/crion-${id}` : null;
    },
  };
  const fakeSandboxes: StatsSandboxes = { list: () => sandboxes, find: (id) => sandboxes.find((entry) => entry.id === id) };
  const hierarchies = cgroupHierarchies({
    layout: 'hybrid',
    v1Controllers: ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'].map((name) => ({ name, mountPoint: path.join(root, name) })),
    v2: { mountPoint: path.join(root, 'unified'), controllers: ['hugetlb'] },
  });
  const networkReads: number[] = [];
  const stats = new StatsCollector({
    containers: fakeContainers,
    sandboxes: fakeSandboxes,
    hierarchies,
    cgroupDriver: 'cgroupfs',
    writableLayers: new WritableLayerUsage({ ttlMs: 0, maxConcurrentWalks: 1, measure: async () => ({ bytes: 8192, inodes: 2 }) }),
    layerFilesystem: '/var/lib/crion/overlay',
    log,
    readNetwork: async (pid) => {
      networkReads.push(pid);
      return [ETH0];
    },
  });
  const openFileReads: Array<readonly number[]> = [];
  const collector = new PodMetricsCollector({
    containers: fakeContainers,
    sandboxes: fakeSandboxes,
    stats,
    hierarchies,
    layerFilesystem: '/var/lib/crion/overlay',
    statFilesystem: async () => ({ bytes: 10n ** 12n, inodes: 1000n, freeInodes: 600n }),
    readOpenFiles: async (pids) => {
      openFileReads.push(pids);
      return { fileDescriptors: 5n, sockets: 1n };
    },
    log,
    now: () => NOW,
  });
  return { root, collector, networkReads, cgroupsPathLookups, openFileReads };
}

const DESCRIPTOR = new Map(METRIC_DESCRIPTORS.map((descriptor) => [descriptor.name, descriptor]));

function find(metrics: readonly MetricValue[], name: string, ...ownLabels: string[]): MetricValue | undefined {
  const keys = DESCRIPTOR.get(name)?.labelKeys.length ?? 0;
  return metrics.find(
    (metric) => metric.name === name && ownLabels.every((label, index) => metric.labelValues[keys - ownLabels.length + index] === label),
  );
}

function everyMetric(pods: readonly PodMetrics[]): MetricValue[] {
  return pods.flatMap((pod) => [...pod.metrics, ...pod.containerMetrics.flatMap((entry) => entry.metrics)]);
}

test('descriptors: unique cAdvisor names, each with the base labels first, the ones the kubelet is asked for among them', (t) => {
  const names = METRIC_DESCRIPTORS.map((descriptor) => descriptor.name);
  t.is(new Set(names).size, names.length);
  for (const descriptor of METRIC_DESCRIPTORS) {
    t.regex(descriptor.name, /^container_[a-z_]+$/);
    t.deepEqual(descriptor.labelKeys.slice(0, BASE_LABEL_KEYS.length), [...BASE_LABEL_KEYS]);
    t.true(descriptor.help.length > 0);
    const counter =
      (descriptor.name.endsWith('_total') && descriptor.name !== 'container_fs_inodes_total') || descriptor.name === 'container_memory_failcnt';
    t.is(descriptor.kind, counter ? 'COUNTER' : 'GAUGE', descriptor.name);
  }
  for (const name of [
    'container_cpu_usage_seconds_total',
    'container_memory_working_set_bytes',
    'container_network_receive_bytes_total',
    'container_spec_memory_limit_bytes',
  ]) {
    t.true(DESCRIPTOR.has(name), name);
  }
  t.deepEqual(DESCRIPTOR.get('container_network_transmit_packets_dropped_total')?.labelKeys, [...BASE_LABEL_KEYS, 'interface']);
  t.deepEqual(DESCRIPTOR.get('container_cpu_usage_seconds_total')?.labelKeys, [...BASE_LABEL_KEYS, 'cpu']);
});

test('a ready pod: network per interface at pod level labelled POD, a running container from its cgroup, exited ones left out', async (t) => {
  const { root, collector, networkReads, openFileReads } = await fixture(
    t,
    [
      // As the kubelet creates it: from the image's ID, with the pod spec's name beside it.
      container('c1', 'p1', 'CONTAINER_RUNNING', {
        pid: 77,
        image: 'sha256:0123',
        config: { labels: {}, image: { image: 'sha256:0123', userSpecifiedImage: 'registry.example/app:1' } },
      } as unknown as Partial<ContainerRecord>),
      container('c2', 'p1', 'CONTAINER_EXITED', { pid: 0 }),
    ],
    [sandbox('p1')],
  );
  await writeTree(root, v1Cgroup('/kubepods/p1/crion-c1', 2_700_000_000n));
  // The exited container's stale cgroup must not be reported.
  await writeTree(root, v1Cgroup('/kubepods/p1/crion-c2', 9_000_000_000n));
  const pods = await collector.list();
  t.is(pods.length, 1);
  const [pod] = pods;
  t.is(pod?.podSandboxId, 'p1');
  t.deepEqual(networkReads, [77], 'the namespace is read through the running container');
  t.deepEqual(find(pod?.metrics ?? [], 'container_network_receive_bytes_total', 'eth0'), {
    name: 'container_network_receive_bytes_total',
    kind: 'COUNTER',
    labelValues: ['p1', '', 'ns1', 'pod-p1', 'POD', 'eth0'],
    value: 1000n,
  });
  t.is(find(pod?.metrics ?? [], 'container_network_transmit_packets_dropped_total', 'eth0')?.value, 4n);
  t.is(pod?.metrics.length, 8);

  t.deepEqual(
    pod?.containerMetrics.map((entry) => entry.containerId),
    ['c1'],
  );
  const metrics = pod?.containerMetrics[0]?.metrics ?? [];
  const value = (name: string, ...labels: string[]) => find(metrics, name, ...labels)?.value;
  t.deepEqual(find(metrics, 'container_cpu_usage_seconds_total', 'total')?.labelValues, [
    'c1',
    'registry.example/app:1',
    'ns1',
    'pod-p1',
    'name-c1',
    'total',
  ]);
  t.is(value('container_cpu_usage_seconds_total', 'total'), 2n, 'whole seconds, truncated');
  t.is(value('container_cpu_user_seconds_total'), 3n);
  t.is(value('container_cpu_system_seconds_total'), 1n);
  t.is(value('container_cpu_cfs_periods_total'), 8n);
  t.is(value('container_cpu_cfs_throttled_periods_total'), 2n);
  t.is(value('container_cpu_cfs_throttled_seconds_total'), 3n);
  t.is(value('container_memory_usage_bytes'), 10485760n);
  t.is(value('container_memory_working_set_bytes'), 9437184n);
  t.is(value('container_memory_rss'), 8388608n);
  t.is(value('container_memory_cache'), 2097152n);
  t.is(value('container_memory_failcnt'), 0n);
  t.is(value('container_memory_failures_total', 'pgmajfault', 'hierarchy'), 5n);
  t.is(value('container_memory_failures_total', 'pgfault', 'container'), 500n);
  t.is(value('container_spec_memory_limit_bytes'), 0n, 'no limit reads as 0, as cAdvisor reports it');
  t.is(value('container_spec_cpu_shares'), 256n);
  t.is(value('container_spec_cpu_quota'), 20000n);
  t.is(value('container_spec_cpu_period'), 100000n);
  t.is(value('container_processes'), 1n);
  t.is(value('container_threads'), 2n);
  t.is(value('container_threads_max'), 0n, 'unlimited is 0');
  t.is(value('container_start_time_seconds'), 1700000000n);
  t.is(value('container_last_seen'), BigInt(Math.floor(NOW.getTime() / 1000)));
  t.is(value('container_memory_swap'), 0n, 'memsw equal to the usage: nothing swapped');
  t.is(value('container_spec_memory_swap_limit_bytes'), 0n);
  t.is(value('container_memory_max_usage_bytes'), 20971520n);
  t.is(value('container_memory_kernel_usage'), 65536n);
  t.is(value('container_oom_events_total'), 1n);
  t.deepEqual(openFileReads, [[4242]], "the open files of the cgroup's processes");
  t.is(value('container_file_descriptors'), 5n);
  t.is(value('container_sockets'), 1n);
  t.is(value('container_fs_usage_bytes'), 8192n, "the writable layer, through the StatsCollector's cache");
  t.is(value('container_fs_limit_bytes'), 10n ** 12n);
  t.is(value('container_fs_inodes_total'), 1000n);
  t.is(value('container_fs_inodes_free'), 600n);
  t.is(value('container_fs_reads_bytes_total', '9999:0'), 4096n);
  t.is(value('container_fs_writes_total', '9999:0'), 2n);
  t.deepEqual(find(metrics, 'container_blkio_device_usage_total', '9999:0', '9999', '0', 'Write')?.labelValues.slice(5), [
    '9999:0',
    '9999',
    '0',
    'Write',
  ]);
  t.is(value('container_blkio_device_usage_total', '9999:0', '9999', '0', 'Write'), 8192n);
  // A running container on this host's cgroups reports every metric crion describes.
  const reported = new Set([...metrics, ...(pod?.metrics ?? [])].map((metric) => metric.name));
  t.deepEqual(
    METRIC_DESCRIPTORS.map((descriptor) => descriptor.name).filter((name) => !reported.has(name)),
    [],
  );

  for (const metric of everyMetric(pods)) {
    const descriptor = DESCRIPTOR.get(metric.name);
    if (descriptor === undefined) {
      t.fail(`${metric.name} has no descriptor`);
      continue;
    }
    t.is(metric.labelValues.length, descriptor.labelKeys.length, metric.name);
    t.is(metric.kind, descriptor.kind, metric.name);
  }
});

test('a pod that is not ready or shares the node network has no pod-level metrics; every pod is listed', async (t) => {
  const { root, collector, networkReads } = await fixture(
    t,
    [container('c1', 'host', 'CONTAINER_RUNNING'), container('c2', 'gone', 'CONTAINER_RUNNING')],
    [sandbox('host', { network: 'NODE' }), sandbox('gone', { state: 'SANDBOX_NOTREADY' }), sandbox('empty')],
  );
  await writeTree(root, v1Cgroup('/kubepods/host/crion-c1', 1n));
  await writeTree(root, v1Cgroup('/kubepods/gone/crion-c2', 1n));
  const pods = await collector.list();
  t.deepEqual(
    pods.map((pod) => [pod.podSandboxId, pod.metrics.length, pod.containerMetrics.map((entry) => entry.containerId)]),
    [
      ['host', 0, ['c1']],
      ['gone', 0, ['c2']],
      ['empty', 0, []],
    ],
  );
  t.deepEqual(networkReads, []);
});

test("one container's unreadable cgroup leaves it out and the others are still reported; cgroup paths are looked up once", async (t) => {
  const { root, collector, cgroupsPathLookups } = await fixture(
    t,
    [container('bad', 'p1', 'CONTAINER_RUNNING'), container('good', 'p1', 'CONTAINER_RUNNING')],
    [sandbox('p1')],
    { brokenCgroupOf: 'bad' },
  );
  await writeTree(root, v1Cgroup('/kubepods/p1/crion-good', 5_000_000_000n));
  const first = await collector.list();
  t.deepEqual(
    first[0]?.containerMetrics.map((entry) => entry.containerId),
    ['good'],
  );
  await collector.list();
  t.is(cgroupsPathLookups.filter((id) => id === 'good').length, 1, "the StatsCollector's cache of cgroup paths is shared");
});

test('ListPodSandboxMetrics and StreamPodSandboxMetrics send the same pods, as CRI Metric messages with timestamp 0', async (t) => {
  const pods: PodMetrics[] = Array.from({ length: 3 }, (_, index) => ({
    podSandboxId: `p${index}`,
    metrics: [
      { name: 'container_network_receive_bytes_total', kind: 'COUNTER', labelValues: [`p${index}`, '', 'ns', 'pod', 'POD', 'eth0'], value: 5n },
    ],
    containerMetrics: [
      {
        containerId: `c${index}`,
        metrics: [
          { name: 'container_memory_working_set_bytes', kind: 'GAUGE', labelValues: [`c${index}`, 'img', 'ns', 'pod', 'ctr'], value: 2n ** 40n },
        ],
      },
    ],
  }));
  const rpcs = metricsRpcs({ metrics: { list: async () => pods } });
  const context = { log, signal: new AbortController().signal } as RpcContext;
  const unary = await rpcs.ListPodSandboxMetrics?.({}, context);
  t.deepEqual(unary?.podMetrics?.[1], {
    podSandboxId: 'p1',
    metrics: [
      {
        name: 'container_network_receive_bytes_total',
        timestamp: '0',
        metricType: 'COUNTER',
        labelValues: ['p1', '', 'ns', 'pod', 'POD', 'eth0'],
        value: { value: '5' },
      },
    ],
    containerMetrics: [
      {
        containerId: 'c1',
        metrics: [
          {
            name: 'container_memory_working_set_bytes',
            timestamp: '0',
            metricType: 'GAUGE',
            labelValues: ['c1', 'img', 'ns', 'pod', 'ctr'],
            value: { value: '1099511627776' },
          },
        ],
      },
    ],
  });
  const sent: StreamPodSandboxMetricsResponse[] = [];
  const sink: MessageSink<StreamPodSandboxMetricsResponse> = { send: (message) => sent.push(message) > 0, drained: async () => undefined };
  await rpcs.StreamPodSandboxMetrics?.({}, sink, context);
  t.deepEqual(
    sent.flatMap((message) => message.podSandboxMetrics ?? []),
    unary?.podMetrics,
  );
  const descriptors = await rpcs.ListMetricDescriptors?.({}, context);
  t.deepEqual(
    descriptors?.descriptors?.map((descriptor) => descriptor.name),
    METRIC_DESCRIPTORS.map((descriptor) => descriptor.name),
  );
});
