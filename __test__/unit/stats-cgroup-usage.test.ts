import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cgroupHierarchies, readCgroupUsage } from '../../src/stats/cgroup-usage.js';

/** Cgroup usage from fixture trees laid out as the kernel lays out v1, v2 and hybrid hierarchies. */

const DIR = '/kubepods/pod1/crion-abc';

async function tree(t: { teardown(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'crion-stats-cgroup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  return root;
}

const V1_MEMORY_STAT = [
  'cache 1000',
  'rss 500',
  'inactive_file 100',
  'total_cache 40960000',
  'total_rss 20480000',
  'total_inactive_file 10240000',
  'total_pgfault 3000',
  'total_pgmajfault 7',
  '',
].join('\n');

/** This project's CI host: one mount per controller, and a v2 mount holding only hugetlb. */
function hybrid(root: string, v2Controllers: string[] = ['hugetlb']) {
  const v1 = ['cpu', 'cpuacct', 'memory', 'pids'].map((name) => ({ name, mountPoint: path.join(root, name) }));
  return cgroupHierarchies({ layout: 'hybrid', v1Controllers: v1, v2: { mountPoint: path.join(root, 'unified'), controllers: v2Controllers } });
}

test('v1: cpuacct, memory with total_ keys and pids, each from its own hierarchy', async (t) => {
  const root = await tree(t, {
    [`cpuacct${DIR}/cpuacct.usage`]: '123456789\n',
    [`memory${DIR}/memory.usage_in_bytes`]: '61440000\n',
    [`memory${DIR}/memory.stat`]: V1_MEMORY_STAT,
    [`memory${DIR}/memory.limit_in_bytes`]: '268435456\n',
    [`pids${DIR}/pids.current`]: '3\n',
    // A cpu.stat in the v2 mount must not win over cpuacct.
    [`unified${DIR}/cpu.stat`]: 'usage_usec 1\n',
  });
  t.deepEqual(await readCgroupUsage(hybrid(root), DIR), {
    cpuNanos: 123456789n,
    memory: {
      usageBytes: 61440000n,
      workingSetBytes: 51200000n,
      rssBytes: 20480000n,
      pageFaults: 3000n,
      majorPageFaults: 7n,
      cacheBytes: 40960000n,
      mappedFileBytes: null,
      limitBytes: 268435456n,
    },
    processes: 3n,
  });
});

test("v1: the kernel's rounded maximum means no limit", async (t) => {
  const root = await tree(t, {
    [`memory${DIR}/memory.usage_in_bytes`]: '4096\n',
    [`memory${DIR}/memory.limit_in_bytes`]: '9223372036854771712\n',
  });
  const usage = await readCgroupUsage(hybrid(root), DIR);
  t.is(usage.memory?.limitBytes, null);
  // Without memory.stat nothing is known to be inactive: the working set is the usage.
  t.is(usage.memory?.workingSetBytes, 4096n);
  t.is(usage.memory?.rssBytes, null);
});

test('a missing controller file leaves only that part null', async (t) => {
  const root = await tree(t, {
    [`cpuacct${DIR}/cpuacct.usage`]: '5\n',
    // No memory files: the cgroup has no memory directory (e.g. the controller is not set up for it).
    [`pids${DIR}/pids.current`]: '1\n',
  });
  t.deepEqual(await readCgroupUsage(hybrid(root), DIR), { cpuNanos: 5n, memory: null, processes: 1n });
});

test('a cgroup that does not exist reads as all null, not as an error', async (t) => {
  const root = await tree(t, {});
  t.deepEqual(await readCgroupUsage(hybrid(root), '/gone'), { cpuNanos: null, memory: null, processes: null });
});

test('v2: cpu.stat, memory.current/stat/max and pids.current in one hierarchy', async (t) => {
  const root = await tree(t, {
    [`${DIR}/cpu.stat`]: 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n',
    [`${DIR}/memory.current`]: '10485760\n',
    [`${DIR}/memory.stat`]: 'anon 4194304\nfile 6291456\ninactive_file 2097152\nactive_file 4194304\npgfault 1200\npgmajfault 3\n',
    [`${DIR}/memory.max`]: 'max\n',
    [`${DIR}/pids.current`]: '2\n',
  });
  const hierarchies = cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers: ['cpu', 'memory', 'pids'] } });
  t.deepEqual(await readCgroupUsage(hierarchies, DIR), {
    cpuNanos: 2_500_000n,
    memory: {
      usageBytes: 10485760n,
      workingSetBytes: 8388608n,
      rssBytes: 4194304n,
      pageFaults: 1200n,
      majorPageFaults: 3n,
      cacheBytes: 6291456n,
      mappedFileBytes: null,
      limitBytes: null,
    },
    processes: 2n,
  });
});

test('v2: a memory.max limit counts; controllers the hierarchy lacks are not read', async (t) => {
  const root = await tree(t, {
    [`${DIR}/cpu.stat`]: 'usage_usec 1\n',
    [`${DIR}/memory.current`]: '100\n',
    [`${DIR}/memory.max`]: '1000\n',
    [`${DIR}/pids.current`]: '9\n',
  });
  const withMemory = cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers: ['memory'] } });
  const usage = await readCgroupUsage(withMemory, DIR);
  t.is(usage.memory?.limitBytes, 1000n);
  t.is(usage.processes, null, 'pids is not among the hierarchy controllers');
  const bare = cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers: [] } });
  t.like(await readCgroupUsage(bare, DIR), { cpuNanos: 1000n, memory: null, processes: null });
});

test('hybrid: a controller v1 lacks is read from the v2 hierarchy when it holds it', async (t) => {
  const root = await tree(t, {
    [`unified${DIR}/pids.current`]: '4\n',
  });
  const hierarchies = cgroupHierarchies({
    layout: 'hybrid',
    v1Controllers: [{ name: 'cpuacct', mountPoint: path.join(root, 'cpuacct') }],
    v2: { mountPoint: path.join(root, 'unified'), controllers: ['pids'] },
  });
  t.is((await readCgroupUsage(hierarchies, DIR)).processes, 4n);
});

test('co-mounted v1 controllers share one mount point', async (t) => {
  const root = await tree(t, { [`cpu,cpuacct${DIR}/cpuacct.usage`]: '77\n' });
  const mountPoint = path.join(root, 'cpu,cpuacct');
  const hierarchies = cgroupHierarchies({
    layout: 'v1',
    v1Controllers: [
      { name: 'cpu', mountPoint },
      { name: 'cpuacct', mountPoint },
    ],
    v2: null,
  });
  t.is((await readCgroupUsage(hierarchies, DIR)).cpuNanos, 77n);
});
