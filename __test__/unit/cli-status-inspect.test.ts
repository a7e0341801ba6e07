import test from 'ava';
import type { InfoDocument } from '../../src/admin/info-document.js';
import { AmbiguousPrefixError, pickInspected } from '../../src/cli/inspect-commands.js';
import { formatStatus, gatherStatus, type StatusImages, type StatusRuntime } from '../../src/cli/status-report.js';
import { NotFoundError } from '../../src/errors.js';

/** `crion inspect`'s choice between the pod and the container answers, and `crion status`'s report, over fakes. */

const notFound = { status: 404, body: { error: 'none' } };

test('inspect prints the one pod or container the prefix starts', (t) => {
  t.deepEqual(pickInspected('ab', { status: 200, body: { kind: 'container', id: 'abc' } }, notFound), { kind: 'container', id: 'abc' });
  t.deepEqual(pickInspected('ab', notFound, { status: 200, body: { kind: 'pod', id: 'abd' } }), { kind: 'pod', id: 'abd' });
});

test('inspect of a prefix that starts nothing is NotFoundError', (t) => {
  t.throws(() => pickInspected('zz', notFound, notFound), { instanceOf: NotFoundError, message: 'no pod or container ID starts with "zz"' });
});

test('a prefix that starts several IDs, of one kind or of both, is ambiguous and names them all', (t) => {
  const ofBoth = t.throws(() => pickInspected('a', { status: 200, body: { id: 'abc' } }, { status: 200, body: { id: 'ade' } }), {
    instanceOf: AmbiguousPrefixError,
  });
  t.is(ofBoth.message, '"a" is ambiguous: it starts the IDs of container abc, pod ade');
  const ofContainers = t.throws(() => pickInspected('a', { status: 409, body: { error: '…', candidates: ['ab', 'ac'] } }, notFound), {
    instanceOf: AmbiguousPrefixError,
  });
  t.deepEqual(ofContainers.candidates, ['container ab', 'container ac']);
});

test('an answer that is neither a document nor a miss is an error with the daemon message', (t) => {
  t.throws(() => pickInspected('a', { status: 500, body: { error: 'cannot read the bundle' } }, notFound), {
    message: 'the daemon could not look up containers: 500 cannot read the bundle',
  });
});

const info: InfoDocument = {
  versions: { crion: '0.1.0', criApi: 'k8s.io/cri-api v0.37.2', node: 'v22.0.0', kernel: '6.1.0' },
  runtimeHandlers: [
    {
      name: 'runc',
      default: true,
      configuredPath: 'runc',
      binary: '/usr/sbin/runc',
      root: '/run/runc',
      version: 'runc version 1.1.5\ncommit: x',
      versionError: null,
    },
    {
      name: 'crun',
      default: false,
      configuredPath: 'crun',
      binary: null,
      root: '/run/crun',
      version: null,
      versionError: 'the runtime is not installed',
    },
  ],
  configDigest: 'sha256:0123',
  hostProbe: {} as InfoDocument['hostProbe'],
  cgroupDriver: 'systemd',
  root: '/var/lib/crion',
  state: '/run/crion',
  listen: 'unix:///run/crion/crion.sock',
  network: { defaultNetwork: null, ready: false, message: 'no valid CNI network config in /etc/cni/net.d' },
};

const runtime: StatusRuntime = {
  endpoint: 'unix:///run/crion/crion.sock',
  status: async () => ({
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'no valid CNI network config in /etc/cni/net.d' },
      ],
    },
    runtimeHandlers: [
      { name: '', features: { recursiveReadOnlyMounts: true, userNamespaces: false } },
      { name: 'runc', features: { recursiveReadOnlyMounts: true, userNamespaces: false } },
    ],
    info: {},
    features: null,
  }),
  listPods: async () => [{ state: 'SANDBOX_READY' }, { state: 'SANDBOX_NOTREADY' }] as Awaited<ReturnType<StatusRuntime['listPods']>>,
  listContainers: async () => [{ state: 'CONTAINER_RUNNING' }, { state: 'CONTAINER_EXITED' }] as Awaited<ReturnType<StatusRuntime['listContainers']>>,
};

const images: StatusImages = {
  list: async () => [{}, {}, {}] as Awaited<ReturnType<StatusImages['list']>>,
  fsInfo: async () => ({
    imageFilesystems: [
      {
        timestamp: '0',
        fsId: { mountpoint: '/var/lib/crion/overlay' },
        usedBytes: { value: '4200000' },
        inodesUsed: { value: '321' },
      },
    ],
    containerFilesystems: [],
  }),
};

test('status: CRI readiness and counts, with versions, handlers and network from /info', async (t) => {
  const report = await gatherStatus(runtime, images, info, '/run/crion/crion-admin.sock');
  t.like(report, {
    endpoint: 'unix:///run/crion/crion.sock',
    pods: { total: 2, ready: 1 },
    containers: { total: 2, running: 1 },
    images: { total: 3, mountpoint: '/var/lib/crion/overlay', usedBytes: 4_200_000, inodesUsed: 321 },
  });
  t.deepEqual(report.runtimeHandlers, [
    { name: 'runc', default: true, binary: '/usr/sbin/runc', version: 'runc version 1.1.5', recursiveReadOnlyMounts: true },
    { name: 'crun', default: false, binary: null, version: 'the runtime is not installed', recursiveReadOnlyMounts: null },
  ]);
  t.is(
    formatStatus(report),
    [
      'crion:         0.1.0 (CRI API k8s.io/cri-api v0.37.2, node v22.0.0, kernel 6.1.0)',
      'socket:        unix:///run/crion/crion.sock (admin: /run/crion/crion-admin.sock)',
      'RuntimeReady:  true',
      'NetworkReady:  false (NetworkPluginNotReady: no valid CNI network config in /etc/cni/net.d)',
      'handler runc:  default, /usr/sbin/runc, runc version 1.1.5',
      'handler crun:  not installed, the runtime is not installed',
      'network:       none',
      'cgroup driver: systemd',
      'pods:          2 (1 ready)',
      'containers:    2 (1 running)',
      'images:        3, 4.2 MB in /var/lib/crion/overlay',
      'config:        sha256:0123',
      '',
    ].join('\n'),
  );
});
