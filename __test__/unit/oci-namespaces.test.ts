import test from 'ava';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors.js';
import type { NamespaceOption__Output } from '../../src/generated/runtime/v1/NamespaceOption.js';
import { containerSpec, sandboxSpec, type HostFacts, type OciNamespace, type OciSpec, type PodNamespacePaths } from '../../src/oci/index.js';
import {
  containerSpecInput,
  hostFacts,
  imageDefaults,
  lookups,
  namespaceOptions,
  podConfig,
  sandboxContext,
  specProblems,
  withSecurity,
} from '../helpers/oci-fixtures.js';

const NET = { type: 'network', path: '/run/crion/ns/pod1/net' } as const;
const UTS = { type: 'uts', path: '/run/crion/ns/pod1/uts' } as const;
const IPC = { type: 'ipc', path: '/run/crion/ns/pod1/ipc' } as const;
const MOUNT = { type: 'mount' } as const;
const CGROUP = { type: 'cgroup' } as const;
const OWN_PID = { type: 'pid' } as const;
/** What every container of the default pod joins. */
const POD = [NET, UTS, IPC];

interface Case {
  readonly pod?: Partial<NamespaceOption__Output>;
  readonly container?: Partial<NamespaceOption__Output>;
  readonly paths?: Partial<PodNamespacePaths>;
  readonly target?: string | null;
  readonly privileged?: boolean;
  readonly host?: Partial<HostFacts>;
}

function containerFor(options: Case): OciSpec {
  const pod = namespaceOptions(options.pod);
  const base = sandboxContext();
  return containerSpec(
    containerSpecInput({
      config: withSecurity({ namespaceOptions: namespaceOptions({ ...options.pod, ...options.container }), privileged: options.privileged ?? false }),
      sandbox: sandboxContext({
        config: podConfig({}, { namespaceOptions: pod, privileged: options.privileged ?? false }),
        namespaces: { ...base.namespaces, ...options.paths },
      }),
      targetPidNamespace: options.target ?? null,
      host: hostFacts(options.host),
    }),
  );
}

const containers: Array<[string, Case, OciNamespace[]]> = [
  ["own PID namespace, the pod's others, a new cgroup one on v2", {}, [OWN_PID, ...POD, MOUNT, CGROUP]],
  ["the pod's PID namespace through the infra process", { pod: { pid: 'POD' } }, [{ type: 'pid', path: '/proc/4242/ns/pid' }, ...POD, MOUNT, CGROUP]],
  ["the node's PID namespace (hostPID)", { pod: { pid: 'NODE' } }, [...POD, MOUNT, CGROUP]],
  [
    "a target container's PID namespace",
    { container: { pid: 'TARGET', targetId: 'c0' }, target: '/proc/77/ns/pid' },
    [{ type: 'pid', path: '/proc/77/ns/pid' }, ...POD, MOUNT, CGROUP],
  ],
  ["the node's network and so its UTS namespace", { pod: { network: 'NODE' } }, [OWN_PID, IPC, MOUNT, CGROUP]],
  ["the node's IPC namespace", { pod: { ipc: 'NODE' } }, [OWN_PID, NET, UTS, MOUNT, CGROUP]],
  ['no cgroup namespace on cgroup v1', { host: { cgroupLayout: 'v1' } }, [OWN_PID, ...POD, MOUNT]],
  ['no cgroup namespace on a hybrid layout', { host: { cgroupLayout: 'hybrid' } }, [OWN_PID, ...POD, MOUNT]],
  ['no cgroup namespace when privileged', { privileged: true }, [OWN_PID, ...POD, MOUNT]],
  ["the container's network and IPC modes do not matter", { container: { network: 'NODE', ipc: 'NODE' } }, [OWN_PID, ...POD, MOUNT, CGROUP]],
  ["user namespace NODE is the host's", { container: { usernsOptions: { mode: 'NODE', uids: [], gids: [] } } }, [OWN_PID, ...POD, MOUNT, CGROUP]],
];

for (const [title, options, expected] of containers) {
  test(`container namespaces: ${title}`, (t) => {
    const spec = containerFor(options);
    t.deepEqual(spec.linux.namespaces, expected);
    t.deepEqual(specProblems(spec), []);
  });
}

test("the hostname is the pod's, except on the host network", (t) => {
  t.is(containerFor({}).hostname, 'web-0');
  t.is(containerFor({ pod: { network: 'NODE' } }).hostname, undefined);
  t.true(containerFor({ pod: { network: 'NODE' } }).process.env.includes('HOSTNAME=web-0'));
});

const refusals: Array<[string, Case, new (...args: never[]) => Error, RegExp]> = [
  [
    'a shared PID namespace without an infra process',
    { pod: { pid: 'POD' }, paths: { pid: null } },
    InvalidArgumentError,
    /pid is POD but the pod has no shared PID namespace/,
  ],
  [
    "the pod's PID namespace in a hostPID pod",
    { pod: { pid: 'NODE' }, container: { pid: 'POD' } },
    InvalidArgumentError,
    /pid is POD but the pod has no shared PID namespace/,
  ],
  [
    "the node's PID namespace in a pod without hostPID",
    { container: { pid: 'NODE' } },
    InvalidArgumentError,
    /pid is NODE but the pod does not use the node's PID namespace/,
  ],
  ['TARGET without a target', { container: { pid: 'TARGET', targetId: 'c0' } }, InvalidArgumentError, /TARGET without a running target container/],
  ['TARGET without a target id', { container: { pid: 'TARGET' }, target: '/proc/1/ns/pid' }, InvalidArgumentError, /TARGET without/],
  [
    'a pod user namespace',
    { container: { usernsOptions: { mode: 'POD', uids: [], gids: [] } } },
    InvalidArgumentError,
    /userns_options: user namespaces are not supported yet/,
  ],
  [
    'a container user namespace',
    { container: { usernsOptions: { mode: 'CONTAINER', uids: [], gids: [] } } },
    InvalidArgumentError,
    /mode must be NODE or POD, not CONTAINER/,
  ],
  [
    'a pod network namespace that was not set up',
    { paths: { network: null } },
    FailedPreconditionError,
    /the pod's network namespace has not been set up/,
  ],
];

for (const [title, options, kind, message] of refusals) {
  test(`container namespaces refuse ${title}`, (t) => {
    t.throws(() => containerFor(options), { instanceOf: kind, message });
  });
}

function sandboxFor(pod: Partial<NamespaceOption__Output>, host: Partial<HostFacts> = {}): OciSpec {
  return sandboxSpec({
    sandbox: sandboxContext({ config: podConfig({}, { namespaceOptions: namespaceOptions(pod) }) }),
    image: imageDefaults({ entrypoint: ['/pause'], cmd: null }),
    imageName: 'registry.k8s.io/pause:3.9',
    rootfs: '/pause',
    identity: { uid: 65535, gid: 65535, additionalGids: [65535] },
    host: hostFacts(host),
    lookups: lookups(),
  });
}

const sandboxes: Array<[string, Partial<NamespaceOption__Output>, OciNamespace[]]> = [
  ["creates the pod's PID namespace and joins the pinned ones", { pid: 'POD' }, [OWN_PID, ...POD, MOUNT, CGROUP]],
  ["stays in the node's PID namespace for hostPID", { pid: 'NODE' }, [...POD, MOUNT, CGROUP]],
  ["stays in the node's network, UTS and IPC namespaces", { pid: 'POD', network: 'NODE', ipc: 'NODE' }, [OWN_PID, MOUNT, CGROUP]],
];

for (const [title, pod, expected] of sandboxes) {
  test(`infra process: ${title}`, (t) => {
    const spec = sandboxFor(pod);
    t.deepEqual(spec.linux.namespaces, expected);
    t.deepEqual(specProblems(spec), []);
  });
}

test('the infra process refuses pod user namespaces too', (t) => {
  t.throws(() => sandboxFor({ usernsOptions: { mode: 'POD', uids: [{ hostId: 1000, containerId: 0, length: 65536 }], gids: [] } }), {
    instanceOf: InvalidArgumentError,
    message: /user namespaces are not supported yet/,
  });
});

test("a container without namespace options follows the pod's PID mode", (t) => {
  const pidOf = (pid: 'POD' | 'CONTAINER' | 'NODE') =>
    containerSpec(
      containerSpecInput({
        config: withSecurity({ namespaceOptions: null }),
        sandbox: sandboxContext({ config: podConfig({}, { namespaceOptions: namespaceOptions({ pid }) }) }),
      }),
    ).linux.namespaces.find((ns) => ns.type === 'pid');
  t.deepEqual(pidOf('CONTAINER'), { type: 'pid' });
  t.deepEqual(pidOf('POD'), { type: 'pid', path: '/proc/4242/ns/pid' });
  t.is(pidOf('NODE'), undefined);
});
