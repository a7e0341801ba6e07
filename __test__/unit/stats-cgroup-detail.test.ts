import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCgroupDetail } from '../../src/stats/cgroup-detail.js';
import { cgroupHierarchies } from '../../src/stats/cgroup-usage.js';

/** The cgroup figures behind the cAdvisor metrics, from fixture v1 (this host's hybrid layout) and v2 trees. */

const DIR = '/kubepods/pod1/crion-abc';

async function tree(t: { teardown(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'crion-cgroup-detail-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  return root;
}

function hybrid(root: string) {
  const v1 = ['cpu', 'cpuacct', 'memory', 'pids'].map((name) => ({ name, mountPoint: path.join(root, name) }));
  return cgroupHierarchies({ layout: 'hybrid', v1Controllers: v1, v2: { mountPoint: path.join(root, 'unified'), controllers: ['hugetlb'] } });
}

function v2(root: string, controllers = ['cpu', 'memory', 'pids']) {
  return cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers } });
}

test('v1: user/system ticks, CFS throttling, shares/quota/period, failcnt, OOM kills, swap from memsw, processes and pids.max', async (t) => {
  const root = await tree(t, {
    [`cpuacct${DIR}/cpuacct.usage`]: '2500000000\n',
    [`cpuacct${DIR}/cpuacct.stat`]: 'user 150\nsystem 75\n',
    [`cpu${DIR}/cpu.stat`]: 'nr_periods 40\nnr_throttled 3\nthrottled_time 120000000\n',
    [`cpu${DIR}/cpu.shares`]: '512\n',
    [`cpu${DIR}/cpu.cfs_quota_us`]: '50000\n',
    [`cpu${DIR}/cpu.cfs_period_us`]: '100000\n',
    [`memory${DIR}/memory.usage_in_bytes`]: '8192\n',
    [`memory${DIR}/memory.memsw.usage_in_bytes`]: '12288\n',
    [`memory${DIR}/memory.stat`]: 'total_cache 4096\ntotal_mapped_file 1024\ntotal_inactive_file 2048\ntotal_rss 4096\n',
    [`memory${DIR}/memory.limit_in_bytes`]: '1048576\n',
    [`memory${DIR}/memory.failcnt`]: '6\n',
    [`memory${DIR}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    [`memory${DIR}/memory.kmem.usage_in_bytes`]: '512\n',
    [`memory${DIR}/memory.max_usage_in_bytes`]: '16384\n',
    [`memory${DIR}/memory.memsw.limit_in_bytes`]: '2097152\n',
    [`pids${DIR}/pids.current`]: '3\n',
    [`pids${DIR}/pids.max`]: '1024\n',
    [`pids${DIR}/cgroup.procs`]: '101\n102\n',
  });
  const detail = await readCgroupDetail(hybrid(root), DIR);
  t.deepEqual(detail.cpu, { userNanos: 1_500_000_000n, systemNanos: 750_000_000n, periods: 40n, throttledPeriods: 3n, throttledNanos: 120_000_000n });
  t.deepEqual(detail.cpuSpec, { shares: 512n, quotaMicros: 50000n, periodMicros: 100000n });
  t.is(detail.memoryFailcnt, 6n);
  t.is(detail.oomKills, 2n);
  t.is(detail.swapBytes, 4096n, 'memsw minus usage');
  t.is(detail.kernelBytes, 512n);
  t.is(detail.maxUsageBytes, 16384n);
  t.is(detail.swapLimitBytes, 2097152n);
  t.deepEqual(detail.pids, [101, 102]);
  t.is(detail.processCount, 2n);
  t.is(detail.threadsMax, 1024n);
  // The usage part is cgroup-usage.ts's reading, not a second parser.
  t.like(detail.usage, {
    cpuNanos: 2_500_000_000n,
    processes: 3n,
    memory: { usageBytes: 8192n, workingSetBytes: 6144n, cacheBytes: 4096n, mappedFileBytes: 1024n },
  });
});

test('v1: no quota (-1), no swap accounting, no pids limit and an old kernel without oom_kill read as null', async (t) => {
  const root = await tree(t, {
    [`cpu${DIR}/cpu.cfs_quota_us`]: '-1\n',
    [`cpu${DIR}/cpu.cfs_period_us`]: '100000\n',
    [`cpu${DIR}/cpu.shares`]: '2\n',
    [`memory${DIR}/memory.usage_in_bytes`]: '8192\n',
    [`memory${DIR}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\n',
    [`pids${DIR}/pids.current`]: '1\n',
    [`pids${DIR}/pids.max`]: 'max\n',
  });
  const detail = await readCgroupDetail(hybrid(root), DIR);
  t.deepEqual(detail.cpuSpec, { shares: 2n, quotaMicros: null, periodMicros: 100000n });
  t.is(detail.swapBytes, null);
  t.is(detail.oomKills, null);
  t.is(detail.threadsMax, null);
  t.is(detail.processCount, null, 'no cgroup.procs file in the fixture');
});

test('v2: cpu.stat user/system/throttling, cpu.weight back to shares, cpu.max, memory.events and swap.current', async (t) => {
  const root = await tree(t, {
    [`${DIR}/cpu.stat`]: 'usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 250000\n',
    [`${DIR}/cpu.weight`]: '20\n',
    [`${DIR}/cpu.max`]: '25000 100000\n',
    [`${DIR}/memory.current`]: '1000\n',
    [`${DIR}/memory.stat`]: 'anon 600\nfile 400\nkernel 50\nfile_mapped 100\ninactive_file 300\n',
    [`${DIR}/memory.max`]: '4096\n',
    [`${DIR}/memory.events`]: 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n',
    [`${DIR}/memory.swap.current`]: '512\n',
    [`${DIR}/memory.swap.max`]: 'max\n',
    [`${DIR}/memory.peak`]: '3000\n',
    [`${DIR}/pids.current`]: '5\n',
    [`${DIR}/pids.max`]: 'max\n',
    [`${DIR}/cgroup.procs`]: '7\n8\n9\n',
  });
  const detail = await readCgroupDetail(v2(root), DIR);
  t.deepEqual(detail.cpu, {
    userNanos: 2_000_000_000n,
    systemNanos: 1_000_000_000n,
    periods: 10n,
    throttledPeriods: 4n,
    throttledNanos: 250_000_000n,
  });
  // The kubelet's 512 shares become weight 20 through runc's mapping; back through the inverse, as cAdvisor reads it.
  t.deepEqual(detail.cpuSpec, { shares: 2n + (19n * 262142n) / 9999n, quotaMicros: 25000n, periodMicros: 100000n });
  t.is(detail.memoryFailcnt, 9n);
  t.is(detail.oomKills, 1n);
  t.is(detail.swapBytes, 512n);
  t.is(detail.swapLimitBytes, null, 'max: no limit');
  t.is(detail.kernelBytes, 50n);
  t.is(detail.maxUsageBytes, 3000n);
  t.deepEqual(detail.pids, [7, 8, 9]);
  t.is(detail.processCount, 3n);
  t.is(detail.threadsMax, null, 'max: no limit');
  t.like(detail.usage, {
    cpuNanos: 3_000_000_000n,
    processes: 5n,
    memory: { usageBytes: 1000n, workingSetBytes: 700n, rssBytes: 600n, cacheBytes: 400n },
  });
});

test('v2: "max" quota is none; without the cpu controller only cpu.stat core lines are read and there is no spec', async (t) => {
  const root = await tree(t, {
    [`${DIR}/cpu.stat`]: 'usage_usec 10\nuser_usec 6\nsystem_usec 4\n',
    [`${DIR}/cpu.max`]: 'max 100000\n',
    [`${DIR}/cpu.weight`]: '100\n',
    [`${DIR}/cgroup.procs`]: '1\n',
  });
  const withCpu = await readCgroupDetail(v2(root, ['cpu']), DIR);
  // v2's default weight, 100, is not v1's default 1024 shares: the mapping is not linear around it.
  t.deepEqual(withCpu.cpuSpec, { shares: 2597n, quotaMicros: null, periodMicros: 100000n });
  const bare = await readCgroupDetail(v2(root, []), DIR);
  t.deepEqual(bare.cpu, { userNanos: 6000n, systemNanos: 4000n, periods: null, throttledPeriods: null, throttledNanos: null });
  t.is(bare.cpuSpec, null);
  t.is(bare.memoryFailcnt, null);
  t.is(bare.processCount, 1n, 'cgroup.procs is a core file of every v2 cgroup');
});

test('a cgroup that is gone reads as all null', async (t) => {
  const root = await tree(t, {});
  const detail = await readCgroupDetail(hybrid(root), '/gone');
  t.deepEqual(
    { ...detail, usage: null },
    {
      usage: null,
      cpu: { userNanos: null, systemNanos: null, periods: null, throttledPeriods: null, throttledNanos: null },
      cpuSpec: { shares: null, quotaMicros: null, periodMicros: null },
      memoryFailcnt: null,
      oomKills: null,
      swapBytes: null,
      kernelBytes: null,
      maxUsageBytes: null,
      swapLimitBytes: null,
      pids: [],
      processCount: null,
      threadsMax: null,
    },
  );
});
