import test from 'ava';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors.js';
import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import {
  checkRecursiveReadOnlyMounts,
  containerSpec,
  type HostFacts,
  type OciMount,
  type OciSpec,
  type SandboxContext,
} from '../../src/oci/index.js';
import type { HandlerFeatures } from '../../src/runtime/handler-features.js';
import {
  containerConfig,
  containerSpecInput,
  handlerFeatures,
  hostFacts,
  mount,
  namespaceOptions,
  podConfig,
  sandboxContext,
  specProblems,
  withSecurity,
} from '../helpers/oci-fixtures.js';

function specFor(
  config: ContainerConfig__Output,
  options: { sandbox?: SandboxContext; host?: Partial<HostFacts>; handler?: Partial<HandlerFeatures> } = {},
): OciSpec {
  return containerSpec(
    containerSpecInput({
      config,
      sandbox: options.sandbox ?? sandboxContext({ config: podConfig({}, { privileged: true }) }),
      host: hostFacts(options.host),
      handler: handlerFeatures(options.handler),
    }),
  );
}

const at = (spec: OciSpec, destination: string): OciMount | undefined => spec.mounts.find((entry) => entry.destination === destination);

test('the default mounts, the pod files and nothing else for a plain container', (t) => {
  const spec = specFor(containerConfig());
  t.deepEqual(
    spec.mounts.map((entry) => `${entry.destination} ${entry.type} ${entry.source}`),
    [
      '/proc proc proc',
      '/dev tmpfs tmpfs',
      '/sys sysfs sysfs',
      '/dev/pts devpts devpts',
      '/dev/mqueue mqueue mqueue',
      '/etc/hosts bind /run/crion/pods/pod1/hosts',
      '/etc/resolv.conf bind /run/crion/pods/pod1/resolv.conf',
      '/etc/hostname bind /run/crion/pods/pod1/hostname',
      '/dev/shm bind /run/crion/pods/pod1/shm',
      '/sys/fs/cgroup cgroup cgroup',
    ],
  );
  t.deepEqual(at(spec, '/dev')?.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  t.deepEqual(at(spec, '/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  t.deepEqual(at(spec, '/sys')?.options, ['nosuid', 'noexec', 'nodev', 'ro']);
  t.deepEqual(at(spec, '/sys/fs/cgroup')?.options, ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']);
  t.deepEqual(at(spec, '/etc/hosts')?.options, ['rbind', 'rprivate', 'rw']);
  t.deepEqual(at(spec, '/dev/shm')?.options, ['rbind', 'rprivate', 'rw']);
  t.deepEqual(specProblems(spec), []);
});

test('privileged containers get sysfs and cgroupfs read-write', (t) => {
  const spec = specFor(withSecurity({ privileged: true }));
  t.deepEqual(at(spec, '/sys')?.options.at(-1), 'rw');
  t.deepEqual(at(spec, '/sys/fs/cgroup')?.options.at(-1), 'rw');
});

test('a read-only rootfs makes the pod files read-only too, but not /dev/shm', (t) => {
  const spec = specFor(withSecurity({ readonlyRootfs: true }));
  t.true(spec.root.readonly);
  for (const file of ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname']) t.is(at(spec, file)?.options.at(-1), 'ro');
  t.is(at(spec, '/dev/shm')?.options.at(-1), 'rw');
});

test("host IPC binds the node's /dev/shm; a pod without a shared shm keeps the private tmpfs", (t) => {
  const hostIpc = sandboxContext({ config: podConfig({}, { namespaceOptions: namespaceOptions({ ipc: 'NODE' }) }) });
  t.is(at(specFor(containerConfig(), { sandbox: hostIpc }), '/dev/shm')?.source, '/dev/shm');
  const noShm = sandboxContext({ files: { hosts: null, resolvConf: null, hostname: null, shm: null } });
  const spec = specFor(containerConfig(), { sandbox: noShm });
  t.deepEqual(at(spec, '/dev/shm'), {
    destination: '/dev/shm',
    type: 'tmpfs',
    source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
  });
  t.is(at(spec, '/etc/hosts'), undefined, 'the image keeps its own file');
});

/** The /data bind a CRI mount becomes. */
const data = (options: string[], source = '/srv/data'): OciMount => ({ destination: '/data', type: 'bind', source, options });

const binds: Array<[string, Parameters<typeof mount>[0], OciMount]> = [
  ['a read-write bind', {}, data(['rbind', 'rprivate', 'rw'])],
  ['a read-only bind', { readonly: true }, data(['rbind', 'rprivate', 'ro'])],
  ['a recursive read-only bind', { readonly: true, recursiveReadOnly: true }, data(['rbind', 'rprivate', 'rro'])],
  ['host-to-container propagation', { propagation: 'PROPAGATION_HOST_TO_CONTAINER' }, data(['rbind', 'rslave', 'rw'])],
  ['bidirectional propagation', { propagation: 'PROPAGATION_BIDIRECTIONAL' }, data(['rbind', 'rshared', 'rw'])],
  ['extra mount options', { mountOptions: ['noexec', 'nosuid'] }, data(['rbind', 'rprivate', 'rw', 'noexec', 'nosuid'])],
  ['a symlinked host path, followed', { hostPath: '/link/data' }, data(['rbind', 'rprivate', 'rw'], '/target/data')],
  ['a container path with a trailing slash', { containerPath: '/data/' }, data(['rbind', 'rprivate', 'rw'])],
  ['selinux_relabel, which crion ignores', { selinuxRelabel: true }, data(['rbind', 'rprivate', 'rw'])],
];

for (const [title, fields, expected] of binds) {
  test(`CRI mount: ${title}`, (t) => {
    t.deepEqual(at(specFor(containerConfig({ mounts: [mount(fields)] })), '/data'), expected);
  });
}

const IMAGE_SPEC = { image: 'sha256:abc', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' };
const imageMount = (overrides: Parameters<typeof mount>[0] = {}) => mount({ hostPath: '', readonly: true, image: IMAGE_SPEC, ...overrides });
const IMAGE_SOURCE = '/run/crion/c/c1/volumes/1/etc';

function specWithImageVolume(volume: Parameters<typeof mount>[0]): OciSpec {
  return containerSpec(
    containerSpecInput({
      config: containerConfig({ mounts: [mount({ containerPath: '/host' }), imageMount(volume)] }),
      sandbox: sandboxContext({ config: podConfig({}, { privileged: true }) }),
      imageVolumeSources: new Map([[1, IMAGE_SOURCE]]),
    }),
  );
}

test('an image volume binds its mounted image read-only, private, nosuid and nodev, but executable', (t) => {
  const spec = specWithImageVolume({});
  t.deepEqual(at(spec, '/data'), data(['rbind', 'rprivate', 'ro', 'nosuid', 'nodev'], IMAGE_SOURCE));
  t.deepEqual(at(spec, '/host')?.source, '/srv/data', 'a host mount beside it keeps its own source');
  t.deepEqual(specProblems(spec), []);
});

test('an image volume stays private whatever propagation it asks for, and no mount option undoes nosuid or nodev', (t) => {
  const spec = specWithImageVolume({ propagation: 'PROPAGATION_BIDIRECTIONAL', mountOptions: ['suid', 'dev', 'noatime'] });
  t.deepEqual(at(spec, '/data')?.options, ['rbind', 'rprivate', 'ro', 'suid', 'dev', 'noatime', 'nosuid', 'nodev']);
  t.is(spec.linux.rootfsPropagation, undefined);
});

test('the rootfs propagation follows the mounts that propagate from the host', (t) => {
  const propagation = (...modes: Array<'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL'>) =>
    specFor(containerConfig({ mounts: modes.map((mode, i) => mount({ containerPath: `/m${i}`, propagation: mode })) })).linux.rootfsPropagation;
  t.is(propagation('PROPAGATION_PRIVATE'), undefined);
  t.is(propagation('PROPAGATION_HOST_TO_CONTAINER'), 'rslave');
  t.is(propagation('PROPAGATION_BIDIRECTIONAL'), 'rshared');
  t.is(propagation('PROPAGATION_BIDIRECTIONAL', 'PROPAGATION_HOST_TO_CONTAINER'), 'rshared');
  t.is(propagation('PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'), 'rshared');
});

test('CRI mounts replace the defaults and pod files at the same place, and a /dev mount everything under /dev', (t) => {
  const spec = specFor(
    containerConfig({
      mounts: [
        mount({ containerPath: '/etc/hosts', hostPath: '/var/lib/kubelet/pods/x/etc-hosts' }),
        mount({ containerPath: '/dev', hostPath: '/dev' }),
      ],
    }),
  );
  t.deepEqual(
    spec.mounts.filter((entry) => entry.destination === '/etc/hosts').map((entry) => entry.source),
    ['/var/lib/kubelet/pods/x/etc-hosts'],
  );
  t.deepEqual(
    spec.mounts.filter((entry) => entry.destination.startsWith('/dev')).map((entry) => `${entry.destination} ${entry.type}`),
    ['/dev bind'],
  );
});

test('mounts are ordered parents first, keeping the request order among equals', (t) => {
  const spec = specFor(
    containerConfig({
      mounts: [
        mount({ containerPath: '/a/b/c', hostPath: '/h/c' }),
        mount({ containerPath: '/z', hostPath: '/h/z' }),
        mount({ containerPath: '/a', hostPath: '/h/a' }),
        mount({ containerPath: '/a/b', hostPath: '/h/b' }),
      ],
    }),
  );
  const order = spec.mounts.map((entry) => entry.destination).filter((destination) => /^\/[az]/.test(destination));
  t.deepEqual(order, ['/z', '/a', '/a/b', '/a/b/c']);
  t.deepEqual(specProblems(spec), []);
});

const refused: Array<[string, Parameters<typeof mount>[0], typeof InvalidArgumentError | typeof FailedPreconditionError, RegExp]> = [
  [
    'recursive read-only without readonly (critest)',
    { recursiveReadOnly: true },
    InvalidArgumentError,
    /mounts\[0\]\.recursive_read_only needs readonly/,
  ],
  [
    'recursive read-only with host-to-container propagation (critest)',
    { readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    InvalidArgumentError,
    /mounts\[0\]\.recursive_read_only needs propagation PROPAGATION_PRIVATE, not PROPAGATION_HOST_TO_CONTAINER/,
  ],
  [
    'recursive read-only with bidirectional propagation (critest)',
    { readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    InvalidArgumentError,
    /mounts\[0\]\.recursive_read_only needs propagation PROPAGATION_PRIVATE, not PROPAGATION_BIDIRECTIONAL/,
  ],
  ['a missing host path', { hostPath: '/missing/dir' }, InvalidArgumentError, /mounts\[0\]\.host_path "\/missing\/dir" does not exist/],
  ['a relative container path', { containerPath: 'data' }, InvalidArgumentError, /container_path "data" is not an absolute path/],
  ['a relative host path', { hostPath: 'srv' }, InvalidArgumentError, /host_path "srv" is not an absolute path/],
  ['ID-mapped mounts', { uidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] }, InvalidArgumentError, /ID-mapped mounts need user namespaces/],
  ['an option that grants something', { mountOptions: ['rw', 'suid'] }, InvalidArgumentError, /mount_options: "rw" is not one of/],
];

for (const [title, fields, kind, message] of refused) {
  test(`CRI mounts refuse ${title}`, (t) => {
    const error = t.throws<Error>(() => specFor(containerConfig({ mounts: [mount(fields)] })), { instanceOf: kind });
    t.regex(error?.message ?? '', message);
  });
}

test('recursive read-only mounts fail, naming the handler and why, on a handler that cannot make them', (t) => {
  const reason = 'kernel 5.10.0 has no mount_setattr(2) (needs Linux 5.12)';
  t.throws(
    () =>
      specFor(containerConfig({ mounts: [mount({ readonly: true, recursiveReadOnly: true })] }), {
        sandbox: sandboxContext({ config: podConfig({}, { privileged: true }), runtimeHandler: 'kata' }),
        handler: { recursiveReadOnlyMounts: { available: false, reason } },
      }),
    {
      instanceOf: FailedPreconditionError,
      message: `mounts[0].recursive_read_only: runtime handler "kata" cannot make mounts read-only recursively: ${reason}`,
    },
  );
});

test('a plain read-only mount needs nothing of the handler, and its submounts stay as they are (ro, not rro)', (t) => {
  const spec = specFor(containerConfig({ mounts: [mount({ readonly: true })] }), {
    handler: { recursiveReadOnlyMounts: { available: false, reason: 'no rro' } },
  });
  t.deepEqual(at(spec, '/data')?.options, ['rbind', 'rprivate', 'ro']);
});

test('checkRecursiveReadOnlyMounts refuses what the spec would, before anything is made, and passes the rest', (t) => {
  const supported = { recursiveReadOnly: { available: true } as const, runtimeHandler: 'runc' };
  t.notThrows(() => checkRecursiveReadOnlyMounts([mount(), mount({ readonly: true, recursiveReadOnly: true })], supported));
  t.throws(() => checkRecursiveReadOnlyMounts([mount(), mount({ recursiveReadOnly: true })], supported), {
    instanceOf: InvalidArgumentError,
    message: 'mounts[1].recursive_read_only needs readonly to be set too',
  });
  t.throws(
    () => checkRecursiveReadOnlyMounts([mount({ readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' })], supported),
    {
      instanceOf: InvalidArgumentError,
      message: 'mounts[0].recursive_read_only needs propagation PROPAGATION_PRIVATE, not PROPAGATION_BIDIRECTIONAL',
    },
  );
  t.throws(
    () =>
      checkRecursiveReadOnlyMounts([mount({ readonly: true, recursiveReadOnly: true })], {
        recursiveReadOnly: { available: false, reason: '`runc features` does not list the rro mount option' },
        runtimeHandler: 'runc',
      }),
    {
      instanceOf: FailedPreconditionError,
      message: /runtime handler "runc" cannot make mounts read-only recursively: `runc features` does not list/,
    },
  );
  t.notThrows(
    () =>
      checkRecursiveReadOnlyMounts([mount({ readonly: true })], { recursiveReadOnly: { available: false, reason: 'none' }, runtimeHandler: 'runc' }),
    'only recursive requests need the feature',
  );
});

test('a destination mounted twice is refused', (t) => {
  t.throws(() => specFor(containerConfig({ mounts: [mount(), mount({ containerPath: '/data/', hostPath: '/srv/other' })] })), {
    instanceOf: InvalidArgumentError,
    message: 'mounts[1].container_path "/data" is mounted twice',
  });
});
