import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ContainerRecord, ContainerState } from '../../src/container/container-manager.js';
import { NotFoundError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';
import { cgroupHierarchies } from '../../src/stats/cgroup-usage.js';
import { CpuRates } from '../../src/stats/cpu-rate.js';
import type { InterfaceUsage } from '../../src/stats/network-usage.js';
import { StatsCollector, type StatsContainers, type StatsSandboxes } from '../../src/stats/stats-collector.js';
import { WritableLayerUsage } from '../../src/stats/writable-layer-usage.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/** The stats collector over fake container and pod records and a fixture cgroup v1 tree. */

function container(id: string, sandboxId: string, state: ContainerState, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    sandboxId,
    state,
    pid: 100,
    infra: false,
    metadata: { name: id, attempt: 0 },
    config: { labels: { app: id } },
    ...extra,
  } as unknown as ContainerRecord;
}

interface Fixture {
  collector: StatsCollector;
  root: string;
  networkReads: number[];
  setNow: (nanos: bigint) => void;
}

/** Writes a v1 cgroup for `dir` with the given CPU time, memory usage and process count. */
async function cgroup(root: string, dir: string, cpu: number, memory: number, pids: number): Promise<void> {
  const files: Record<string, string> = {
    [`cpuacct${dir}/cpuacct.usage`]: `${cpu}\n`,
    [`memory${dir}/memory.usage_in_bytes`]: `${memory}\n`,
    [`memory${dir}/memory.stat`]: 'total_inactive_file 0\ntotal_rss 10\ntotal_pgfault 1\ntotal_pgmajfault 0\n',
    [`memory${dir}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`pids${dir}/pids.current`]: `${pids}\n`,
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
}

async function fixture(
  t: { teardown(fn: () => Promise<void>): void },
  containers: ContainerRecord[],
  sandboxes: SandboxRecord[],
  network: InterfaceUsage[] | null = [],
): Promise<Fixture> {
  const root = await mkdtemp(path.join(tmpdir(), 'crion-stats-collector-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const fakeContainers: StatsContainers = {
    list: (filter) =>
      containers.filter(
        (entry) =>
          !entry.infra &&
          (filter === null ||
            ((filter.id === null || entry.id.startsWith(filter.id)) &&
              (filter.sandboxId === null || entry.sandboxId.startsWith(filter.sandboxId)) &&
              Object.entries(filter.labels).every(([key, value]) => entry.config.labels[key] === value))),
      ),
    find: (id) => containers.find((entry) => entry.id === id),
    writableLayerOf: (id) => path.join(root, 'layers', id),
    // As the bundle has it: crion-<id> under crion's default parent, or under the pod's parent.
    cgroupsPathOf: async (id) => {
      const record = containers.find((entry) => entry.id === id);
      const parent = sandboxes.find((entry) => entry.id === record?.sandboxId)?.cgroupParent || '/crion';
      return record ? `${parent}/crion-${id}` : null;
    },
  };
  const fakeSandboxes: StatsSandboxes = {
    list: (filter) =>
      sandboxes.filter(
        (entry) =>
          filter === null ||
          ((filter.id === null || entry.id.startsWith(filter.id)) &&
            Object.entries(filter.labels).every(([key, value]) => entry.labels[key] === value)),
      ),
    find: (id) => sandboxes.find((entry) => entry.id === id),
  };
  let now = 0n;
  const networkReads: number[] = [];
  const collector = new StatsCollector({
    containers: fakeContainers,
    sandboxes: fakeSandboxes,
    hierarchies: cgroupHierarchies({
      layout: 'v1',
      v1Controllers: ['cpuacct', 'memory', 'pids'].map((name) => ({ name, mountPoint: path.join(root, name) })),
      v2: null,
    }),
    cgroupDriver: 'cgroupfs',
    writableLayers: new WritableLayerUsage({ ttlMs: 0, maxConcurrentWalks: 1, measure: async () => ({ bytes: 8192, inodes: 2 }) }),
    layerFilesystem: '/var/lib/crion/overlay',
    log: createLogger({ level: 'error', format: 'json', destination: new PassThrough() }),
    cpuRates: new CpuRates(() => now),
    readNetwork: async (pid) => {
      networkReads.push(pid);
      return network;
    },
  });
  return { collector, root, networkReads, setNow: (nanos) => (now = nanos) };
}

test('a running container has cgroup figures and a rate from its second sample on', async (t) => {
  const { collector, root, setNow } = await fixture(t, [container('c1', 'p1', 'CONTAINER_RUNNING')], [sandboxRecord('p1')]);
  await cgroup(root, '/crion/crion-c1', 1_000_000_000, 4096, 2);
  const first = await collector.container('c1');
  t.deepEqual(first.cpu, { usageCoreNanoSeconds: 1_000_000_000n, usageNanoCores: null });
  t.like(first.memory, { usageBytes: 4096n, workingSetBytes: 4096n, rssBytes: 10n, availableBytes: null });
  t.deepEqual({ ...first.writableLayer, measuredAt: null }, { bytes: 8192, inodes: 2, mountpoint: '/var/lib/crion/overlay', measuredAt: null });
  await cgroup(root, '/crion/crion-c1', 1_500_000_000, 4096, 2);
  setNow(1_000_000_000n);
  t.is((await collector.container('c1')).cpu?.usageNanoCores, 500_000_000n);
});

test('containers that do not run are listed with their writable layer only', async (t) => {
  const { collector, root } = await fixture(
    t,
    [container('c1', 'p1', 'CONTAINER_EXITED'), container('c2', 'p1', 'CONTAINER_CREATED')],
    [sandboxRecord('p1')],
  );
  // A stale cgroup left behind must not be reported for an exited container.
  await cgroup(root, '/crion/crion-c1', 5, 5, 1);
  const listed = await collector.containers(null);
  t.deepEqual(
    listed.map((entry) => [entry.container.id, entry.cpu, entry.memory, entry.writableLayer?.bytes]),
    [
      ['c1', null, null, 8192],
      ['c2', null, null, 8192],
    ],
  );
});

test('ListContainerStats filters by ID prefix, pod and labels; infra containers never show', async (t) => {
  const { collector } = await fixture(
    t,
    [
      container('aa1', 'p1', 'CONTAINER_RUNNING'),
      container('ab2', 'p2', 'CONTAINER_RUNNING'),
      container('infra1', 'p1', 'CONTAINER_RUNNING', { infra: true }),
    ],
    [sandboxRecord('p1'), sandboxRecord('p2')],
  );
  const ids = async (filter: Parameters<StatsCollector['containers']>[0]) => (await collector.containers(filter)).map((entry) => entry.container.id);
  t.deepEqual(await ids(null), ['aa1', 'ab2']);
  t.deepEqual(await ids({ id: 'ab', sandboxId: null, labels: {} }), ['ab2']);
  t.deepEqual(await ids({ id: null, sandboxId: 'p1', labels: {} }), ['aa1']);
  t.deepEqual(await ids({ id: null, sandboxId: null, labels: { app: 'ab2' } }), ['ab2']);
  t.deepEqual(await ids({ id: null, sandboxId: null, labels: { app: 'none' } }), []);
  await t.throwsAsync(collector.container('infra1'), { instanceOf: NotFoundError });
  await t.throwsAsync(collector.container('missing'), { instanceOf: NotFoundError, message: 'container "missing" not found' });
  await t.throwsAsync(collector.pod('missing'), { instanceOf: NotFoundError, message: 'pod sandbox "missing" not found' });
});

test("a pod with its own cgroup reports that cgroup, its containers and its network namespace's interfaces", async (t) => {
  const eth0 = { name: 'eth0', rxBytes: 10n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 20n, txPackets: 2n, txErrors: 0n, txDropped: 0n };
  const { collector, root, networkReads } = await fixture(
    t,
    [container('c1', 'p1', 'CONTAINER_EXITED', { pid: 7 }), container('c2', 'p1', 'CONTAINER_RUNNING', { pid: 8 })],
    [sandboxRecord('p1', { cgroupParent: '/kubepods/pod1' })],
    [eth0],
  );
  await cgroup(root, '/kubepods/pod1', 3000, 9000, 4);
  await cgroup(root, '/kubepods/pod1/crion-c2', 2000, 6000, 1);
  const stats = await collector.pod('p1');
  t.is(stats.cpu?.usageCoreNanoSeconds, 3000n);
  t.is(stats.memory?.workingSetBytes, 9000n);
  t.is(stats.processCount, 4n);
  t.deepEqual(stats.network, { defaultInterface: eth0, interfaces: [eth0] });
  t.deepEqual(networkReads, [8], 'read through a running process of the pod');
  t.deepEqual(
    stats.containers.map((entry) => [entry.container.id, entry.cpu?.usageCoreNanoSeconds ?? null]),
    [
      ['c1', null],
      ['c2', 2000n],
    ],
  );
});

test('a pod without a cgroup parent sums its running containers and its infra container', async (t) => {
  const { collector, root } = await fixture(
    t,
    [
      container('c1', 'p1', 'CONTAINER_RUNNING'),
      container('c2', 'p1', 'CONTAINER_RUNNING'),
      container('c3', 'p1', 'CONTAINER_EXITED'),
      container('i1', 'p1', 'CONTAINER_RUNNING', { infra: true }),
    ],
    [sandboxRecord('p1', { infraContainerId: 'i1' })],
  );
  await cgroup(root, '/crion/crion-c1', 100, 1000, 1);
  await cgroup(root, '/crion/crion-c2', 200, 2000, 2);
  await cgroup(root, '/crion/crion-c3', 400, 4000, 4);
  await cgroup(root, '/crion/crion-i1', 1, 10, 1);
  const stats = await collector.pod('p1');
  t.is(stats.cpu?.usageCoreNanoSeconds, 301n);
  t.like(stats.memory, { usageBytes: 3010n, workingSetBytes: 3010n, availableBytes: null });
  t.is(stats.processCount, 4n);
  t.deepEqual(
    stats.containers.map((entry) => entry.container.id),
    ['c1', 'c2', 'c3'],
  );
});

test('host-network pods have no network figures, and pods that are not ready have no usage', async (t) => {
  const { collector, networkReads } = await fixture(
    t,
    [container('c1', 'p1', 'CONTAINER_RUNNING'), container('c2', 'p2', 'CONTAINER_EXITED')],
    [sandboxRecord('p1', { network: 'NODE' }), sandboxRecord('p2', { state: 'SANDBOX_NOTREADY', labels: { tier: 'x' } })],
  );
  const [hostNetwork, stopped] = await collector.pods(null);
  t.is(hostNetwork?.network, null);
  t.deepEqual(networkReads, []);
  t.like(stopped, { cpu: null, memory: null, network: null, processCount: null });
  t.deepEqual(
    stopped?.containers.map((entry) => entry.container.id),
    ['c2'],
  );
  t.deepEqual(
    (await collector.pods({ id: null, labels: { tier: 'x' } })).map((entry) => entry.sandbox.id),
    ['p2'],
  );
  t.deepEqual(
    (await collector.pods({ id: 'p1', labels: {} })).map((entry) => entry.sandbox.id),
    ['p1'],
  );
});
