import test from 'ava';
import { createHash } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { adminRoutes, type AdminReply, type AdminSources } from '../../src/admin/admin-routes.js';
import type { ContainerDocument } from '../../src/admin/container-document.js';
import { matchIdPrefix } from '../../src/state/id-prefix.js';
import type { InfoDocument } from '../../src/admin/info-document.js';
import type { PodDocument } from '../../src/admin/pod-document.js';
import { defaultConfig, renderConfig, type CrionConfig } from '../../src/config/index.js';
import type { ContainerRecord } from '../../src/container/container-record.js';
import { PullProgressBoard } from '../../src/image/pull-progress.js';
import type { HostProbe } from '../../src/native/index.js';
import type { OciSpec } from '../../src/oci/index.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';

/** The admin socket's routes and documents over fake sources: no socket, no daemon. */

const POD = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const RUNNING = 'c0ffee00aa11bb22cc33dd44ee55ff66c0ffee00aa11bb22cc33dd44ee55ff66';
const EXITED = 'c0ffee99aa11bb22cc33dd44ee55ff66c0ffee00aa11bb22cc33dd44ee55ff66';

function pod(): SandboxRecord {
  return {
    id: POD,
    metadata: { name: 'web', namespace: 'shop', uid: 'u-1', attempt: 0 },
    state: 'SANDBOX_READY',
    namespaces: { net: `/run/crion/pods/${POD}/net`, ipc: null, uts: null },
    ips: ['10.88.0.7'],
    infraContainerId: null,
  } as Partial<SandboxRecord> as SandboxRecord;
}

function container(id: string, fields: Partial<ContainerRecord>): ContainerRecord {
  return {
    id,
    sandboxId: POD,
    metadata: { name: 'app', attempt: 0 },
    state: 'CONTAINER_RUNNING',
    exitCode: 0,
    reason: '',
    pid: 4242,
    monitorPid: 4241,
    logPath: '/var/log/pods/shop_web_u-1/app/0.log',
    ...fields,
  } as Partial<ContainerRecord> as ContainerRecord;
}

function sources(overrides: { config?: () => CrionConfig; containers?: ContainerRecord[] } = {}): AdminSources {
  const containers = overrides.containers ?? [
    container(RUNNING, {}),
    container(EXITED, { state: 'CONTAINER_EXITED', exitCode: 137, reason: 'OOMKilled' }),
  ];
  return {
    pulls: new PullProgressBoard(),
    info: {
      config: overrides.config ?? (() => defaultConfig()),
      hostProbe: { kernelRelease: '6.1.0-test' } as HostProbe,
      cgroupDriver: 'cgroupfs',
      handlers: [
        { name: 'runc', configuredPath: 'runc', binary: '/usr/sbin/runc', root: '/run/runc' },
        { name: 'crun', configuredPath: 'crun', binary: null, root: '/run/crun' },
      ],
      runtimeVersion: async (binary) => ({ version: `${binary} version 1.1.5\ncommit: v1.1.5`, error: null }),
      defaultNetwork: async () => ({ name: 'crion', file: '/etc/cni/net.d/99-crion-bridge.conflist' }),
      networkReadiness: async () => ({ ready: true, message: '' }),
    },
    containers: {
      list: () => containers,
      bundleOf: (id) => `/run/crion/c/${id}`,
      // Relative, as the OCI spec allows: the document resolves it against the bundle.
      specOf: async (id) => (id === RUNNING ? ({ root: { path: 'rootfs', readonly: false } } as OciSpec) : null),
      pod: (id) => (id === POD ? pod() : undefined),
    },
    pods: { list: () => [pod()], containersOf: (id) => (id === POD ? containers : []) },
  };
}

function json<T>(reply: AdminReply): { status: number; body: T; headers: Readonly<Record<string, string>> } {
  if ('stream' in reply) throw new Error('a stream where a document was expected');
  return { status: reply.status, headers: reply.headers, body: JSON.parse(reply.body) as T };
}

test('a container by a unique ID prefix: its processes, its paths on the host, its pod and its record', async (t) => {
  const reply = json<ContainerDocument>(await adminRoutes(sources())('GET', `/containers/${RUNNING.slice(0, 9)}`));
  t.is(reply.status, 200);
  t.like(reply.body, {
    kind: 'container',
    id: RUNNING,
    name: 'app',
    state: 'CONTAINER_RUNNING',
    exitCode: null,
    reason: null,
    pod: { id: POD, name: 'web', namespace: 'shop' },
    pid: 4242,
    monitorPid: 4241,
    bundle: `/run/crion/c/${RUNNING}`,
    rootfs: `/run/crion/c/${RUNNING}/rootfs`,
    logPath: '/var/log/pods/shop_web_u-1/app/0.log',
    record: { id: RUNNING },
  });
});

test("an exited container's exit code and reason; no rootfs once its bundle is gone", async (t) => {
  const reply = json<ContainerDocument>(await adminRoutes(sources())('GET', `/containers/${EXITED}`));
  t.like(reply.body, { id: EXITED, state: 'CONTAINER_EXITED', exitCode: 137, reason: 'OOMKilled', rootfs: null });
});

test('a prefix that starts no ID is 404; one that starts several is 409 listing them', async (t) => {
  const route = adminRoutes(sources());
  t.deepEqual(json(await route('GET', '/containers/ffff')), {
    status: 404,
    headers: { 'content-type': 'application/json' },
    body: { error: 'no container ID starts with "ffff"' },
  });
  const ambiguous = json<{ error: string; candidates: string[] }>(await route('GET', '/containers/c0ffee'));
  t.is(ambiguous.status, 409);
  t.deepEqual(ambiguous.body, { error: '"c0ffee" starts the IDs of 2 containers', candidates: [RUNNING, EXITED] });
  t.is(json(await route('GET', '/pods/c0ffee')).status, 404, 'container IDs are not pod IDs');
});

test("a pod by a unique ID prefix: its netns, IPs, its containers' IDs and its record", async (t) => {
  const reply = json<PodDocument>(await adminRoutes(sources())('GET', '/pods/a1'));
  t.is(reply.status, 200);
  t.deepEqual(reply.body, {
    kind: 'pod',
    id: POD,
    name: 'web',
    namespace: 'shop',
    uid: 'u-1',
    state: 'SANDBOX_READY',
    netns: `/run/crion/pods/${POD}/net`,
    ips: ['10.88.0.7'],
    containerIds: [RUNNING, EXITED],
    infraContainerId: null,
    podInitPid: null,
    record: pod(),
  });
});

test('/info: versions, each handler with its --version, the config digest, paths and the network', async (t) => {
  const reply = json<InfoDocument>(await adminRoutes(sources())('GET', '/info'));
  t.is(reply.status, 200);
  const config = defaultConfig();
  t.like(reply.body, {
    versions: { node: process.version, kernel: '6.1.0-test' },
    configDigest: `sha256:${createHash('sha256').update(renderConfig(config)).digest('hex')}`,
    cgroupDriver: 'cgroupfs',
    root: config.root,
    state: config.state,
    listen: config.listen,
    network: { defaultNetwork: { name: 'crion', file: '/etc/cni/net.d/99-crion-bridge.conflist' }, ready: true, message: '' },
  });
  t.regex(reply.body.versions.criApi, /^k8s\.io\/cri-api v\d+\.\d+\.\d+$/);
  t.deepEqual(reply.body.runtimeHandlers, [
    {
      name: 'runc',
      default: true,
      configuredPath: 'runc',
      binary: '/usr/sbin/runc',
      root: '/run/runc',
      version: '/usr/sbin/runc version 1.1.5\ncommit: v1.1.5',
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
  ]);
});

test('/config is the effective configuration as TOML, and it and the digest follow the configuration in effect', async (t) => {
  let config = defaultConfig();
  const route = adminRoutes(sources({ config: () => config }));
  const before = await route('GET', '/config');
  t.like(before, { status: 200, headers: { 'content-type': 'application/toml' }, body: renderConfig(config) });
  const digest = json<InfoDocument>(await route('GET', '/info')).body.configDigest;

  config = { ...config, log: { ...config.log, level: 'warn' } };
  const after = await route('GET', '/config');
  t.like(parseToml((after as { body: string }).body), { log: { level: 'warn' } });
  t.not(json<InfoDocument>(await route('GET', '/info')).body.configDigest, digest);
});

test('other methods are 405 with Allow: GET; other paths 404; a query string is ignored', async (t) => {
  const route = adminRoutes(sources());
  t.like(await route('POST', '/info'), { status: 405, headers: { allow: 'GET' } });
  t.like(await route('DELETE', `/containers/${RUNNING}`), { status: 405 });
  for (const path of ['/', '/nosuch', '/containers', '/containers/', `/containers/${RUNNING}/logs`, '/v2/pulls']) {
    t.like(await route('GET', path), { status: 404 }, path);
  }
  t.like(await route('GET', '/info?verbose=1'), { status: 200 });
});

test('the pull board is still served at /v1/pulls, and /v1/pulls/watch streams', async (t) => {
  const board = new PullProgressBoard();
  const route = adminRoutes({ ...sources(), pulls: board });
  board.start('busybox:1');
  const pulls = json<Array<{ image: string }>>(await route('GET', '/v1/pulls'));
  t.deepEqual(
    pulls.body.map((pull) => pull.image),
    ['busybox:1'],
  );
  t.true('stream' in (await route('GET', '/v1/pulls/watch')));
});

test('an ID prefix: a whole ID, a unique start, none, several', (t) => {
  const ids = ['abc1', 'abc2', 'abd3'];
  t.deepEqual(matchIdPrefix('abc1', ids), { kind: 'unique', id: 'abc1' });
  t.deepEqual(matchIdPrefix('abd', ids), { kind: 'unique', id: 'abd3' });
  t.deepEqual(matchIdPrefix('x', ids), { kind: 'none' });
  t.deepEqual(matchIdPrefix('', ids), { kind: 'none' }, 'nothing typed names nothing');
  t.deepEqual(matchIdPrefix('ab', ['abd3', 'abc2', 'abc1']), { kind: 'ambiguous', ids: ['abc1', 'abc2', 'abd3'] });
  t.deepEqual(matchIdPrefix('ab', ['ab', 'abc']), { kind: 'unique', id: 'ab' }, 'a whole ID wins over the longer ones it starts');
});
