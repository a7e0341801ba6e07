import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { cpus } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCriPackage } from '../../src/cri/proto.js';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { cgroupfsParent, createBusyboxContainer, OWN_PID, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';

/**
 * The CRI stats calls through the real crictl on runc: a container that
 * burns CPU, then allocates memory and writes to its writable layer, must
 * show it in `crictl stats` and `crictl statsp`, as table and JSON.
 */

const source = sharedImageSource(test);

const MIB = 1024 * 1024;
/** The container's memory limit, so that available_bytes has something to be measured against. */
const MEMORY_LIMIT = 256 * MIB;

interface Value {
  value?: string;
}
interface CriContainerStats {
  attributes: { id: string; metadata: { name: string } };
  cpu?: { timestamp: string; usageCoreNanoSeconds?: Value; usageNanoCores?: Value };
  memory?: {
    timestamp: string;
    workingSetBytes?: Value;
    usageBytes?: Value;
    availableBytes?: Value;
    rssBytes?: Value;
    pageFaults?: Value;
    majorPageFaults?: Value;
  };
  writableLayer?: { fsId: { mountpoint: string }; usedBytes?: Value; inodesUsed?: Value };
}
interface CriPodStats {
  attributes: { id: string; metadata: { name: string } };
  linux: {
    cpu?: { usageCoreNanoSeconds?: Value };
    memory?: { workingSetBytes?: Value };
    network?: { defaultInterface?: { name: string; rxBytes?: Value }; interfaces?: Array<{ name: string }> };
    process?: { processCount?: Value };
    containers?: CriContainerStats[];
  };
}

/** protojson leaves zero values out, so a missing counter reads as 0. */
function n(value: Value | undefined): number {
  return Number(value?.value ?? 0);
}

async function containerStats(daemon: Daemon, id: string): Promise<CriContainerStats> {
  const { stats } = await crictlJson<{ stats?: CriContainerStats[] }>(daemon, ['stats', '--id', id]);
  const entry = stats?.find((candidate) => candidate.attributes.id === id);
  if (!entry) throw new Error(`crictl stats has no entry for ${id}: ${JSON.stringify(stats)}`);
  return entry;
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let attempt = 0; attempt < 120; attempt += 1) {
    last = await read();
    if (done(last)) return last;
    await sleep(500);
  }
  throw new Error(`${what} never happened; last: ${JSON.stringify(last)}`);
}

/** The row of a crictl table that has `name` in column `column`, split on runs of spaces. */
function row(table: string, column: number, name: string): string[] | undefined {
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}|\t+/))
    .find((columns) => columns[column] === name);
}

test('crictl stats and statsp show a container burning CPU, allocating memory and writing its layer', async (t) => {
  const daemon = await startDaemon(t, {
    // The pod's cgroup parent below is a cgroupfs path.
    config: source.daemonConfig('[runtime]', 'cgroup_driver = "cgroupfs"'),
  });
  const parent = cgroupfsParent(t, daemon, 'stats');

  const { podId, podFile } = await runBusyboxPod(daemon, source, 'stats-pod', { linux: { cgroup_parent: parent, security_context: OWN_PID } });
  const created = await createBusyboxContainer(daemon, source, podId, podFile, 'burner', ['sh', '-c', 'while :; do :; done'], {
    linux: { resources: { memory_limit_in_bytes: MEMORY_LIMIT }, security_context: OWN_PID },
  });
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();

  const idle = await containerStats(daemon, id);
  t.is(idle.attributes.metadata.name, 'burner');
  t.is(idle.cpu, undefined, 'a container that has not started has no CPU figures');
  t.is(idle.writableLayer?.fsId.mountpoint, path.join(daemon.dir, 'root', 'overlay'));

  t.is((await crictl(daemon, ['start', id])).code, 0);

  // CPU: cumulative time grows, and from the second sample on there is a rate no higher than the machine has cores.
  const first = await until(
    'CPU time',
    () => containerStats(daemon, id),
    (stats) => n(stats.cpu?.usageCoreNanoSeconds) > 0,
  );
  await sleep(1000);
  const second = await containerStats(daemon, id);
  t.true(n(second.cpu?.usageCoreNanoSeconds) > n(first.cpu?.usageCoreNanoSeconds));
  t.true(BigInt(second.cpu!.timestamp) > BigInt(first.cpu!.timestamp));
  const nanoCores = n(second.cpu?.usageNanoCores);
  t.true(nanoCores > 0, JSON.stringify(second.cpu));
  t.true(nanoCores <= cpus().length * 1e9 * 1.05, `${nanoCores} nanocores on ${cpus().length} CPUs`);

  // Memory: plausible figures, and a 48 MiB allocation (tmpfs pages are charged to the writer's cgroup) shows in the working set.
  const before = second.memory!;
  t.true(n(before.workingSetBytes) > 0);
  t.true(n(before.usageBytes) >= n(before.workingSetBytes));
  t.true(n(before.pageFaults) > 0);
  t.is(n(before.availableBytes), MEMORY_LIMIT - n(before.workingSetBytes));
  const fill = await crictl(daemon, ['exec', '-s', id, 'dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=48']);
  t.is(fill.code, 0, fill.stderr);
  const after = (await containerStats(daemon, id)).memory!;
  t.true(n(after.workingSetBytes) >= n(before.workingSetBytes) + 40 * MIB, `working set ${n(before.workingSetBytes)} → ${n(after.workingSetBytes)}`);
  t.true(n(after.availableBytes) <= MEMORY_LIMIT - 40 * MIB);

  // Writable layer: an 8 MiB file shows once the cached measurement expires.
  const layerBefore = n((await containerStats(daemon, id)).writableLayer?.usedBytes);
  const write = await crictl(daemon, ['exec', '-s', id, 'dd', 'if=/dev/zero', 'of=/written', 'bs=1M', 'count=8']);
  t.is(write.code, 0, write.stderr);
  const grown = await until(
    'the writable layer growing',
    () => containerStats(daemon, id),
    (stats) => n(stats.writableLayer?.usedBytes) >= layerBefore + 8 * MIB,
  );
  t.true(n(grown.writableLayer?.inodesUsed) >= 2);

  // The table crictl prints samples twice and shows CPU as a percentage of one core; columns: CONTAINER, NAME, CPU %, MEM, ….
  const table = await crictl(daemon, ['stats']);
  t.is(table.code, 0, table.stderr);
  const columns = row(table.stdout, 1, 'burner');
  t.truthy(columns, table.stdout);
  t.true(Number(columns?.[2]) > 0, table.stdout);

  // Pod stats: the pod's own cgroup holds the burner, so it shows at least the container's usage.
  const { stats: pods } = await crictlJson<{ stats: CriPodStats[] }>(daemon, ['statsp', '--id', podId]);
  t.is(pods.length, 1);
  const podStats = pods[0]!;
  t.is(podStats.attributes.metadata.name, 'stats-pod');
  t.true(n(podStats.linux.cpu?.usageCoreNanoSeconds) >= n(second.cpu?.usageCoreNanoSeconds));
  t.true(n(podStats.linux.memory?.workingSetBytes) >= 40 * MIB);
  t.true(n(podStats.linux.process?.processCount) >= 1);
  t.deepEqual(
    podStats.linux.containers?.map((entry) => entry.attributes.id),
    [id],
  );
  // The harness's daemon writes its default bridge network, so the pod has an eth0 beside its loopback.
  const { status: podStatus } = await crictlJson<{ status: { network?: { ip?: string } } }>(daemon, ['inspectp', podId]);
  t.truthy(podStatus.network?.ip);
  t.is(podStats.linux.network?.defaultInterface?.name, 'eth0');
  t.deepEqual(
    podStats.linux.network?.interfaces?.map((entry) => entry.name),
    ['eth0'],
    'loopback is not the pod network',
  );
  const podTable = await crictl(daemon, ['statsp']);
  t.is(podTable.code, 0, podTable.stderr);
  // Columns: POD, POD ID, CPU %, MEM.
  t.true(Number(row(podTable.stdout, 0, 'stats-pod')?.[2]) > 0, podTable.stdout);

  // Filters: by pod, by label, and a container that has exited keeps its entry without cgroup figures.
  const byPod = await crictlJson<{ stats?: CriContainerStats[] }>(daemon, ['stats', '--pod', podId]);
  t.deepEqual(
    byPod.stats?.map((entry) => entry.attributes.id),
    [id],
  );
  const byLabel = await crictlJson<{ stats?: CriContainerStats[] }>(daemon, ['stats', '--label', 'no=such']);
  t.deepEqual(byLabel.stats ?? [], []);
  t.is((await crictl(daemon, ['stop', '--timeout', '0', id])).code, 0);
  const stopped = await containerStats(daemon, id);
  t.is(stopped.cpu, undefined);
  t.is(stopped.memory, undefined);
  t.true(n(stopped.writableLayer?.usedBytes) >= 8 * MIB);
});

test('ContainerStats and PodSandboxStats of a missing object are NOT_FOUND', async (t) => {
  const daemon = await startDaemon(t);
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const missing = 'f'.repeat(64);
  const containerError = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.ContainerStats({ containerId: missing }, (error) => resolve(error)),
  );
  t.is(containerError?.code, grpc.status.NOT_FOUND);
  t.regex(containerError?.details ?? '', /container "f+" not found/);
  const podError = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.PodSandboxStats({ podSandboxId: missing }, (error) => resolve(error)),
  );
  t.is(podError?.code, grpc.status.NOT_FOUND);
  const list = await new Promise<unknown>((resolve, reject) =>
    client.ListPodSandboxStats({ filter: null }, (error, response) => (error ? reject(error) : resolve(response))),
  );
  t.deepEqual(list, { stats: [] });
});
