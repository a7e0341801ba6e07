import test from 'ava';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors.js';
import type { LinuxContainerResources__Output } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import { containerLimits, containerSpec, type HostFacts, type OciResources, type OciSpec } from '../../src/oci/index.js';
import {
  containerConfig,
  containerSpecInput,
  hostFacts,
  podConfig,
  podLinux,
  resources,
  sandboxContext,
  securityContext,
} from '../helpers/oci-fixtures.js';

function specWith(limits: Partial<LinuxContainerResources__Output> | null, host: Partial<HostFacts> = {}): OciSpec {
  return containerSpec(
    containerSpecInput({
      config: containerConfig({ linux: { resources: limits === null ? null : resources(limits), securityContext: securityContext() } }),
      host: hostFacts(host),
    }),
  );
}

const withoutDevices = ({ devices: _devices, ...rest }: OciResources): Omit<OciResources, 'devices'> => rest;

const cases: Array<[string, Partial<LinuxContainerResources__Output> | null, Partial<HostFacts>, Omit<OciResources, 'devices'>]> = [
  ['no resources', null, {}, {}],
  ['all zero', {}, {}, {}],
  [
    'CPU',
    { cpuShares: '512', cpuQuota: '50000', cpuPeriod: '100000', cpusetCpus: '0-1,3', cpusetMems: '0' },
    {},
    { cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1,3', mems: '0' } },
  ],
  ['an unlimited quota', { cpuQuota: '-1' }, {}, { cpu: { quota: -1 } }],
  ['a memory limit forbids swap by default', { memoryLimitInBytes: '268435456' }, {}, { memory: { limit: 268435456, swap: 268435456 } }],
  ['a memory limit with a swap limit', { memoryLimitInBytes: '100', memorySwapLimitInBytes: '300' }, {}, { memory: { limit: 100, swap: 300 } }],
  ['unlimited swap', { memoryLimitInBytes: '100', memorySwapLimitInBytes: '-1' }, {}, { memory: { limit: 100, swap: -1 } }],
  [
    'no swap accounting on the node',
    { memoryLimitInBytes: '100', memorySwapLimitInBytes: '300' },
    { swapAccounting: false },
    { memory: { limit: 100 } },
  ],
  [
    'huge pages of the sizes the node has',
    {
      hugepageLimits: [
        { pageSize: '2MB', limit: '4194304' },
        { pageSize: '1GB', limit: '0' },
        { pageSize: '16GB', limit: '0' },
      ],
    },
    {},
    {
      hugepageLimits: [
        { pageSize: '2MB', limit: 4194304 },
        { pageSize: '1GB', limit: 0 },
      ],
    },
  ],
  ["no page size of the kernel's", { hugepageLimits: [{ pageSize: '2MB', limit: '0' }] }, { hugepageSizes: [] }, {}],
  [
    'no hugetlb controller where runc puts its cgroups (hybrid: it sits in the v2 hierarchy only)',
    {
      hugepageLimits: [
        { pageSize: '2MB', limit: '0' },
        { pageSize: '1GB', limit: '0' },
      ],
      memoryLimitInBytes: '100',
    },
    { cgroupLayout: 'hybrid', cgroupControllers: ['cpu', 'cpuset', 'memory', 'pids'] },
    { memory: { limit: 100, swap: 100 } },
  ],
  [
    'no cpu controller keeps the cpuset',
    { cpuShares: '2', cpuPeriod: '100000', cpusetCpus: '0' },
    { cgroupControllers: ['cpuset', 'memory'] },
    { cpu: { cpus: '0' } },
  ],
  ['no cpuset controller keeps shares', { cpuShares: '2', cpusetCpus: '0' }, { cgroupControllers: ['cpu'] }, { cpu: { shares: 2 } }],
  ['no memory controller', { memoryLimitInBytes: '100', memorySwapLimitInBytes: '300' }, { cgroupControllers: ['cpu'] }, {}],
  [
    'cgroup v2 files of a controller the root lacks',
    { unified: { 'memory.high': '1', 'io.weight': 'default 100', 'cgroup.freeze': '0' } },
    { cgroupControllers: ['memory'] },
    { unified: { 'cgroup.freeze': '0', 'memory.high': '1' } },
  ],
  [
    'cgroup v2 files',
    { unified: { 'memory.high': '1000000', 'io.weight': 'default 100' } },
    {},
    { unified: { 'io.weight': 'default 100', 'memory.high': '1000000' } },
  ],
];

for (const [title, limits, host, expected] of cases) {
  test(`resources: ${title}`, (t) => {
    const spec = specWith(limits, host);
    t.deepEqual(withoutDevices(spec.linux.resources), expected);
  });
}

test('each limit left out is named with its reason, and the rest of the spec still comes', (t) => {
  const limits = containerLimits(
    resources({
      cpuShares: '2',
      memoryLimitInBytes: '100',
      hugepageLimits: [
        { pageSize: '2MB', limit: '0' },
        { pageSize: '64KB', limit: '0' },
      ],
      unified: {},
    }),
    hostFacts({ cgroupLayout: 'hybrid', cgroupControllers: ['cpu', 'cpuacct', 'cpuset', 'pids'] }),
  );
  t.deepEqual(limits.cpu, { shares: 2 });
  t.deepEqual(limits.dropped, [
    'linux.resources.memory_limit_in_bytes and memory_swap_limit_in_bytes: the memory controller is not in the cgroup v1 hierarchies (layout hybrid) that the OCI runtime uses',
    'linux.resources.hugepage_limits of 64KB: the kernel has no such page size',
    'linux.resources.hugepage_limits: the hugetlb controller is not in the cgroup v1 hierarchies (layout hybrid) that the OCI runtime uses',
  ]);
  t.deepEqual(containerLimits(resources({ cpuShares: '2' }), hostFacts()).dropped, []);
});

test('hugepage limits without a hugetlb controller are refused when the node is told not to tolerate it', (t) => {
  const host = hostFacts({ cgroupLayout: 'v2', cgroupControllers: ['cpu', 'memory'], tolerateMissingHugetlbController: false });
  const error = t.throws(() => containerLimits(resources({ hugepageLimits: [{ pageSize: '2MB', limit: '0' }] }), host), {
    instanceOf: FailedPreconditionError,
  });
  t.is(
    error?.message,
    "linux.resources.hugepage_limits: the hugetlb controller is not in the cgroup v2 root's cgroup.controllers that the OCI runtime uses, " +
      'and runtime.tolerate_missing_hugetlb_controller is false',
  );
  // Nothing asked of hugetlb, nothing to refuse.
  t.is(containerLimits(resources({ cpuShares: '2' }), host).hugepageLimits, null);
  // Bad values are refused whatever the node offers.
  t.throws(() => containerLimits(resources({ memoryLimitInBytes: '-1' }), hostFacts({ cgroupControllers: [] })), {
    instanceOf: InvalidArgumentError,
  });
});

const oom: Array<[string, Partial<LinuxContainerResources__Output> | null, number | null, number | undefined]> = [
  ["not set without resources: the runtime inherits crion's", null, null, undefined],
  ['as asked', { oomScoreAdj: '-997' }, null, -997],
  ['raised to the floor crion cannot go below', { oomScoreAdj: '-997' }, -500, -500],
  ['above the floor, as asked', { oomScoreAdj: '1000' }, -500, 1000],
  ['zero is a value too', {}, null, 0],
];

for (const [title, limits, floor, expected] of oom) {
  test(`oom_score_adj: ${title}`, (t) => {
    t.is(specWith(limits, { oomScoreAdjFloor: floor }).process.oomScoreAdj, expected);
  });
}

const refused: Array<[string, Partial<LinuxContainerResources__Output>, Partial<HostFacts>, RegExp]> = [
  [
    'swap below memory',
    { memoryLimitInBytes: '200', memorySwapLimitInBytes: '100' },
    {},
    /memory_swap_limit_in_bytes \(100\) is below memory_limit_in_bytes \(200\)/,
  ],
  ['a negative memory limit', { memoryLimitInBytes: '-5' }, {}, /memory_limit_in_bytes: -5 is outside/],
  ['a memory limit past 2^53', { memoryLimitInBytes: '9223372036854775807' }, {}, /memory_limit_in_bytes: 9223372036854775807 is outside/],
  ['an oom_score_adj out of range', { oomScoreAdj: '1001' }, {}, /oom_score_adj: 1001 is outside -1000\.\.1000/],
  ['a CPU period over a second', { cpuPeriod: '2000000' }, {}, /cpu_period/],
  ['a malformed cpuset', { cpusetCpus: '0-a' }, {}, /cpuset_cpus: "0-a" is not a list/],
  ['cgroup v2 files on v1', { unified: { 'memory.high': '1' } }, { cgroupLayout: 'v1' }, /unified needs cgroup v2; this node runs cgroup v1/],
  ['a cgroup v2 key with a path', { unified: { '../memory.high': '1' } }, {}, /"\.\.\/memory\.high" is not a cgroup v2 file name/],
];

for (const [title, limits, host, message] of refused) {
  test(`resources refuse ${title}`, (t) => {
    const error = t.throws(() => specWith(limits, host), { instanceOf: InvalidArgumentError });
    t.regex(error?.message ?? '', /^linux\.resources\./);
    t.regex(error?.message ?? '', message);
  });
}

test("the cgroups path puts the container under the pod's parent in the driver's form", (t) => {
  t.is(specWith(null).linux.cgroupsPath, '/kubepods/besteffort/podpod-uid-1/crion-c1');
  const slice = containerSpec(
    containerSpecInput({
      sandbox: sandboxContext({ config: podConfig({ linux: podLinux({ cgroupParent: '/test.slice' }) }) }),
      host: hostFacts({ cgroupDriver: 'systemd' }),
    }),
  );
  t.is(slice.linux.cgroupsPath, 'test.slice:crion:c1');
});
