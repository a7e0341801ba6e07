import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import { cgroupDirOf, cgroupParentPath, containerCgroupsPath, podCgroupDir } from '../../src/oci/index.js';

const parents: Array<[string, 'cgroupfs' | 'systemd', string]> = [
  ['/kubepods/besteffort/pod123', 'cgroupfs', '/kubepods/besteffort/pod123'],
  ['kubepods/burstable', 'cgroupfs', '/kubepods/burstable'],
  ['/kubepods//burstable/', 'cgroupfs', '/kubepods/burstable'],
  ['/test.slice', 'cgroupfs', '/test.slice'],
  ['kubepods-besteffort-pod1_2.slice', 'cgroupfs', '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice'],
  [
    '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice',
    'cgroupfs',
    '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice',
  ],
  ['/machine/pods.slice', 'cgroupfs', '/machine/pods.slice'],
  ['-.slice', 'cgroupfs', '/'],
  ['', 'cgroupfs', '/crion'],
  ['/test.slice', 'systemd', 'test.slice'],
  ['kubepods-besteffort-pod1.slice', 'systemd', 'kubepods-besteffort-pod1.slice'],
  ['/kubepods.slice/kubepods-burstable.slice', 'systemd', 'kubepods-burstable.slice'],
  ['', 'systemd', 'system.slice'],
];

for (const [parent, driver, expected] of parents) {
  test(`cgroupParentPath(${JSON.stringify(parent)}, ${driver}) is ${expected}`, (t) => {
    t.is(cgroupParentPath(parent, driver), expected);
  });
}

const invalid: Array<[string, 'cgroupfs' | 'systemd', RegExp]> = [
  ['/kubepods/besteffort', 'systemd', /"besteffort" is not a valid systemd slice name: it must end in \.slice/],
  ['.slice', 'systemd', /must end in \.slice/],
  ['a--b.slice', 'cgroupfs', /dashes may not lead, trail or repeat/],
  ['-a.slice', 'systemd', /dashes/],
  ['/kubepods/../escape', 'cgroupfs', /may not contain "\." or "\.\." components/],
];

for (const [parent, driver, message] of invalid) {
  test(`cgroupParentPath refuses ${JSON.stringify(parent)} with ${driver}`, (t) => {
    const error = t.throws(() => cgroupParentPath(parent, driver), { instanceOf: InvalidArgumentError });
    t.regex(error?.message ?? '', /^linux\.cgroup_parent: /);
    t.regex(error?.message ?? '', message);
  });
}

test("containerCgroupsPath is a directory under the parent with cgroupfs and runc's slice:prefix:name with systemd", (t) => {
  t.is(containerCgroupsPath('/kubepods/pod1', 'cgroupfs', 'abc'), '/kubepods/pod1/crion-abc');
  t.is(containerCgroupsPath('/test.slice', 'cgroupfs', 'abc'), '/test.slice/crion-abc');
  t.is(containerCgroupsPath('/test.slice', 'systemd', 'abc'), 'test.slice:crion:abc');
  t.is(containerCgroupsPath('', 'systemd', 'abc'), 'system.slice:crion:abc');
});

test('cgroupDirOf finds the directory runc makes for either driver', (t) => {
  t.is(cgroupDirOf(containerCgroupsPath('/kubepods/pod1', 'cgroupfs', 'abc')), '/kubepods/pod1/crion-abc');
  t.is(
    cgroupDirOf(containerCgroupsPath('kubepods-besteffort-pod1.slice', 'systemd', 'abc')),
    '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/crion-abc.scope',
  );
  t.is(cgroupDirOf(containerCgroupsPath('', 'systemd', 'abc')), '/system.slice/crion-abc.scope');
  t.is(cgroupDirOf('a-b.slice:crion:c.slice'), '/c.slice');
});

test('podCgroupDir is the parent as a directory, or null when the pod names none', (t) => {
  t.is(podCgroupDir('/kubepods/pod1', 'cgroupfs'), '/kubepods/pod1');
  t.is(podCgroupDir('kubepods-besteffort-pod1.slice', 'systemd'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice');
  t.is(podCgroupDir('/test.slice', 'systemd'), '/test.slice');
  t.is(podCgroupDir('', 'cgroupfs'), null);
  t.is(podCgroupDir('', 'systemd'), null);
});
