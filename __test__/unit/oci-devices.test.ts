import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { Device__Output } from '../../src/generated/runtime/v1/Device.js';
import { DEFAULT_DEVICE_RULES, containerSpec, type OciSpec } from '../../src/oci/index.js';
import { FUSE, SDA, containerConfig, containerSpecInput, podConfig, sandboxContext, securityContext } from '../helpers/oci-fixtures.js';

function specWith(devices: Device__Output[], privileged = false): OciSpec {
  return containerSpec(
    containerSpecInput({
      config: containerConfig({ devices, linux: { resources: null, securityContext: securityContext({ privileged }) } }),
      sandbox: sandboxContext({ config: podConfig({}, { privileged }) }),
    }),
  );
}

const device = (hostPath: string, containerPath: string, permissions: string): Device__Output => ({ hostPath, containerPath, permissions });

test('an unprivileged container may use the usual devices and nothing else', (t) => {
  const spec = specWith([]);
  t.deepEqual(spec.linux.devices, []);
  t.deepEqual(spec.linux.resources.devices, DEFAULT_DEVICE_RULES);
  t.deepEqual(spec.linux.resources.devices[0], { allow: false, access: 'rwm' }, 'deny first');
  const allowed = spec.linux.resources.devices.slice(1).map((rule) => `${rule.type} ${rule.major}:${rule.minor ?? '*'}`);
  t.deepEqual(allowed, ['c 1:3', 'c 1:8', 'c 1:7', 'c 5:0', 'c 1:5', 'c 1:9', 'c 5:1', 'c 136:*', 'c 5:2']);
});

test('a CRI device is created in the container and allowed with its permissions', (t) => {
  const spec = specWith([device('/dev/fuse', '/dev/fuse', 'rw'), device('/dev/sda', '/dev/xvda', 'r')]);
  t.deepEqual(spec.linux.devices, [
    { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
    { path: '/dev/xvda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
  ]);
  t.deepEqual(spec.linux.resources.devices.slice(-2), [
    { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
    { allow: true, type: 'b', major: 8, minor: 0, access: 'r' },
  ]);
});

test('an empty container path is the host path and empty permissions are rwm', (t) => {
  const spec = specWith([device('/dev/fuse', '', '')]);
  t.is(spec.linux.devices[0]?.path, '/dev/fuse');
  t.is(spec.linux.resources.devices.at(-1)?.access, 'rwm');
});

test('a privileged container gets every host device and access to all of them', (t) => {
  const spec = specWith([device('/dev/fuse', '/dev/fuse', 'rwm')], true);
  t.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  t.deepEqual(
    spec.linux.devices.map((entry) => entry.path),
    ['/dev/sda', '/dev/fuse'],
  );
  t.deepEqual(spec.linux.devices[0], { ...SDA });
  t.deepEqual(spec.linux.devices[1], { ...FUSE });
});

const refused: Array<[string, Device__Output, RegExp]> = [
  ['a path that is not a device', device('/etc/passwd', '/dev/x', 'rwm'), /devices\[0\]\.host_path "\/etc\/passwd" is not a device node/],
  ['a relative host path', device('dev/fuse', '/dev/fuse', 'rwm'), /host_path "dev\/fuse" is not an absolute path/],
  ['a relative container path', device('/dev/fuse', 'fuse', 'rwm'), /container_path "fuse" is not an absolute path/],
  ['unknown permissions', device('/dev/fuse', '/dev/fuse', 'rwx'), /permissions "rwx" is not a combination of r, w and m/],
  ['repeated permissions', device('/dev/fuse', '/dev/fuse', 'rr'), /permissions "rr"/],
];

for (const [title, entry, message] of refused) {
  test(`devices: refuses ${title}`, (t) => {
    t.throws(() => specWith([entry]), { instanceOf: InvalidArgumentError, message });
  });
}
