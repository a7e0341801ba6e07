import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import {
  call,
  containerConfig,
  createContainer,
  harnessImages,
  harnessRegistry,
  podConfig,
  runPod,
  setUp,
  snapshot,
  useHarness,
  waitExited,
  type Setup,
} from '../helpers/leak-harness.js';
import type { HostSnapshot } from '../helpers/host-snapshot.js';

/**
 * The malformed-input table: requests a careless or hostile client could
 * send, across the RPCs, each with the status code it must get. UNKNOWN is
 * never one of them: it tells the client nothing about whose fault it was.
 * After each request the host must be as it was before it, and no request
 * may hang (each has a deadline far beyond what an answer takes).
 */

useHarness(test);

/** What the table's requests aim at: a pod, a running and an exited container in it. */
interface Targets {
  readonly setup: Setup;
  readonly podId: string;
  readonly pod: ReturnType<typeof podConfig>;
  readonly running: string;
  readonly exited: string;
}

interface BadRequest {
  readonly name: string;
  readonly service: 'runtime' | 'images';
  readonly method: string;
  readonly request: (targets: Targets) => object;
  readonly code: grpc.status;
  readonly message: RegExp;
}

const { INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION } = grpc.status;
const MISSING_ID = 'd'.repeat(64);
const ANSWER_DEADLINE_MS = 60_000;

let podNumber = 0;

/** A pod config of its own name (so one wrongly accepted cannot make the next a duplicate), changed by `change`. */
function badPod(name: string, code: grpc.status, message: RegExp, change: (config: PodConfig) => void, runtimeHandler = ''): BadRequest {
  return {
    name: `RunPodSandbox: ${name}`,
    service: 'runtime',
    method: 'RunPodSandbox',
    request: ({ setup }) => {
      const config: PodConfig = podConfig(setup, `bad-${podNumber++}`, { sharedPid: false, cgroupParent: '' });
      change(config);
      return { config, runtimeHandler };
    },
    code,
    message,
  };
}

type PodConfig = ReturnType<typeof podConfig> & { dnsConfig?: object; labels?: Record<string, string> };
type ContainerConfig = ReturnType<typeof containerConfig> & Record<string, unknown>;

function badContainer(name: string, code: grpc.status, message: RegExp, change: (config: ContainerConfig) => void): BadRequest {
  return {
    name: `CreateContainer: ${name}`,
    service: 'runtime',
    method: 'CreateContainer',
    request: ({ podId, pod }) => {
      const config: ContainerConfig = containerConfig(`bad-${podNumber++}`, ['true']);
      change(config);
      return { podSandboxId: podId, config, sandboxConfig: pod };
    },
    code,
    message,
  };
}

function runtimeCall(method: string, name: string, request: (targets: Targets) => object, code: grpc.status, message: RegExp): BadRequest {
  return { name: `${method}: ${name}`, service: 'runtime', method, request, code, message };
}

function pull(name: string, image: string, code: grpc.status, message: RegExp, auth: object | null = null): BadRequest {
  return { name: `PullImage: ${name}`, service: 'images', method: 'PullImage', request: () => ({ image: { image }, auth }), code, message };
}

const namespaceOptions = (config: PodConfig | ContainerConfig): Record<string, unknown> => {
  const linux = (config.linux ??= {}) as { securityContext?: { namespaceOptions?: Record<string, unknown> } };
  linux.securityContext ??= {};
  return (linux.securityContext.namespaceOptions ??= {});
};

const TABLE: readonly BadRequest[] = [
  runtimeCall('RunPodSandbox', 'no config', () => ({}), INVALID_ARGUMENT, /needs a config/),
  badPod('metadata without uid', INVALID_ARGUMENT, /metadata needs name, namespace and uid/, (c) => void (c.metadata.uid = '')),
  badPod('a name that adds CNI_ARGS', INVALID_ARGUMENT, /metadata\.name/, (c) => void (c.metadata.name = 'x;IP=10.89.77.77')),
  badPod('a namespace that adds CNI_ARGS', INVALID_ARGUMENT, /metadata\.namespace/, (c) => void (c.metadata.namespace = 'probe;IP=10.89.77.78')),
  badPod('a uid with a newline', INVALID_ARGUMENT, /metadata\.uid/, (c) => void (c.metadata.uid = 'uid\nIP=10.89.77.79')),
  badPod('a hostname with a NUL byte', INVALID_ARGUMENT, /hostname contains a NUL byte/, (c) => void (c.hostname = 'host\0name')),
  badPod('a hostname of 65 letters', INVALID_ARGUMENT, /hostname/, (c) => void (c.hostname = 'h'.repeat(65))),
  badPod('a hostname with a blank', INVALID_ARGUMENT, /hostname/, (c) => void (c.hostname = 'two words')),
  badPod('a DNS server with a newline', INVALID_ARGUMENT, /dns_config\.servers\[0\]/, (c) => {
    c.dnsConfig = { servers: ['10.0.0.10\nnameserver 6.6.6.6'], searches: [], options: [] };
  }),
  badPod('a DNS server that is no IP', INVALID_ARGUMENT, /dns_config\.servers\[1\]/, (c) => {
    c.dnsConfig = { servers: ['10.0.0.10', 'dns.example.com'], searches: [], options: [] };
  }),
  badPod('a DNS search of two words', INVALID_ARGUMENT, /dns_config\.searches\[0\]/, (c) => {
    c.dnsConfig = { servers: [], searches: ['a.example b.example'], options: [] };
  }),
  badPod('a DNS option with a newline', INVALID_ARGUMENT, /dns_config\.options\[0\]/, (c) => {
    c.dnsConfig = { servers: [], searches: [], options: ['ndots:1\nnameserver 6.6.6.6'] };
  }),
  badPod(
    'host_port 70000',
    INVALID_ARGUMENT,
    /host_port 70000/,
    (c) => void (c.portMappings = [{ protocol: 'TCP', containerPort: 80, hostPort: 70000 }]),
  ),
  badPod('host_port -1', INVALID_ARGUMENT, /host_port -1/, (c) => void (c.portMappings = [{ protocol: 'TCP', containerPort: 80, hostPort: -1 }])),
  badPod(
    'container_port 0',
    INVALID_ARGUMENT,
    /container_port 0/,
    (c) => void (c.portMappings = [{ protocol: 'TCP', containerPort: 0, hostPort: 8080 }]),
  ),
  badPod('protocol enum 7', INVALID_ARGUMENT, /port_mappings\[0\]\.protocol: 7 is not a Protocol value/, (c) => {
    c.portMappings = [{ protocol: 7 as unknown as string, containerPort: 80, hostPort: 8080 }];
  }),
  badPod('a host_ip that is no IP', INVALID_ARGUMENT, /host_ip/, (c) => {
    c.portMappings = [{ protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '10.0.0.300' } as (typeof c.portMappings)[number]];
  }),
  badPod(
    'a relative log_directory',
    INVALID_ARGUMENT,
    /log_directory "logs\/pod" must be an absolute path/,
    (c) => void (c.logDirectory = 'logs/pod'),
  ),
  badPod(
    'a log_directory with ..',
    INVALID_ARGUMENT,
    /log_directory .* "\.\." components/,
    (c) => void (c.logDirectory = `${c.logDirectory}/../../..`),
  ),
  badPod('log_directory in /proc', INVALID_ARGUMENT, /pseudo-filesystem/, (c) => void (c.logDirectory = '/proc/1/probe')),
  badPod('log_directory /dev/null', INVALID_ARGUMENT, /pseudo-filesystem/, (c) => void (c.logDirectory = '/dev/null')),
  badPod('a log_directory that is a file', INVALID_ARGUMENT, /is not a directory/, (c) => void (c.logDirectory = '/etc/hostname')),
  badPod('network namespace mode 99', INVALID_ARGUMENT, /namespace_options\.network: 99 is not a NamespaceMode value/, (c) => {
    namespaceOptions(c).network = 99;
  }),
  badPod(
    'pid namespace mode 99',
    INVALID_ARGUMENT,
    /namespace_options\.pid: 99 is not a NamespaceMode value/,
    (c) => void (namespaceOptions(c).pid = 99),
  ),
  badPod(
    'network namespace TARGET',
    INVALID_ARGUMENT,
    /TARGET applies to the PID namespace only/,
    (c) => void (namespaceOptions(c).network = 'TARGET'),
  ),
  badPod('a sysctl the kernel lacks', INVALID_ARGUMENT, /kernel\.no_such_sysctl/, (c) => void (c.linux.sysctls = { 'kernel.no_such_sysctl': '1' })),
  badPod('a sysctl value the kernel refuses', INVALID_ARGUMENT, /net\.ipv4\.ip_local_port_range/, (c) => {
    c.linux.sysctls = { 'net.ipv4.ip_local_port_range': 'low high' };
  }),
  badPod(
    'a sysctl name with a NUL byte',
    INVALID_ARGUMENT,
    /sysctls key contains a NUL byte/,
    (c) => void (c.linux.sysctls = { 'kernel.shm\0max': '1' }),
  ),
  badPod('a cgroup_parent with a NUL byte', INVALID_ARGUMENT, /cgroup_parent contains a NUL byte/, (c) => void (c.linux.cgroupParent = '/crion\0x')),
  badPod('a cgroup_parent that climbs out', INVALID_ARGUMENT, /cgroup_parent/, (c) => void (c.linux.cgroupParent = '../../x')),
  badPod('a label key with a NUL byte', INVALID_ARGUMENT, /labels key contains a NUL byte/, (c) => void (c.labels = { 'app\0x': 'web' })),
  badPod('an unknown runtime handler', NOT_FOUND, /no-such-handler/, () => undefined, 'no-such-handler'),
  runtimeCall('RunPodSandbox', 'the same metadata as a pod that exists', ({ pod }) => ({ config: pod }), ALREADY_EXISTS, /target/),
  runtimeCall('PodSandboxStatus', 'an unknown pod', () => ({ podSandboxId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall('PodSandboxStats', 'an unknown pod', () => ({ podSandboxId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall(
    'ListPodSandbox',
    'state filter 9',
    () => ({ filter: { state: { state: 9 } } }),
    INVALID_ARGUMENT,
    /filter\.state\.state: 9 is not a PodSandboxState value/,
  ),
  runtimeCall(
    'ListContainers',
    'state filter 9',
    () => ({ filter: { state: { state: 9 } } }),
    INVALID_ARGUMENT,
    /filter\.state\.state: 9 is not a ContainerState value/,
  ),

  runtimeCall('CreateContainer', 'no config', ({ podId, pod }) => ({ podSandboxId: podId, sandboxConfig: pod }), INVALID_ARGUMENT, /metadata\.name/),
  runtimeCall(
    'CreateContainer',
    'an unknown pod',
    ({ pod }) => ({ podSandboxId: MISSING_ID, config: containerConfig('orphan', ['true']), sandboxConfig: pod }),
    NOT_FOUND,
    /pod sandbox/,
  ),
  badContainer('no image', INVALID_ARGUMENT, /config\.image\.image/, (c) => void (c.image = { image: '' })),
  badContainer(
    'an image never pulled',
    NOT_FOUND,
    /never-pulled/,
    (c) => void (c.image = { image: `${harnessRegistry().host}/crion-test/never-pulled:1` }),
  ),
  badContainer('a log_path that climbs out', INVALID_ARGUMENT, /log_path/, (c) => void (c.logPath = '../../escape.log')),
  badContainer('an absolute log_path', INVALID_ARGUMENT, /log_path/, (c) => void (c.logPath = '/tmp/crion-escape.log')),
  badContainer(
    'a command with a NUL byte',
    INVALID_ARGUMENT,
    /config\.command\[1\] contains a NUL byte/,
    (c) => void (c.command = ['echo', 'cut\0here']),
  ),
  badContainer('an argument with a NUL byte', INVALID_ARGUMENT, /config\.args\[0\] contains a NUL byte/, (c) => void (c.args = ['cut\0here'])),
  // KeyValue.value is bytes in api.proto, so the gRPC door cannot see it as a string.
  badContainer('an environment value with a NUL byte', INVALID_ARGUMENT, /envs\[0\] \(GREETING\) contains a NUL byte/, (c) => {
    c.envs = [{ key: 'GREETING', value: Buffer.from('hi\0there') }];
  }),
  badContainer('an environment key with a NUL byte', INVALID_ARGUMENT, /config\.envs\[0\]\.key contains a NUL byte/, (c) => {
    c.envs = [{ key: 'GREE\0TING', value: Buffer.from('hi') }];
  }),
  badContainer('a working_dir with a NUL byte', INVALID_ARGUMENT, /config\.working_dir contains a NUL byte/, (c) => void (c.workingDir = '/tmp\0x')),
  badContainer('run_as_group without run_as_user', INVALID_ARGUMENT, /run_as_group/, (c) => {
    c.linux = { securityContext: { runAsGroup: { value: '100' } } };
  }),
  badContainer('a seccomp profile that does not exist', INVALID_ARGUMENT, /nonexistent\/seccomp\.json/, (c) => {
    c.linux = { securityContext: { seccomp: { profileType: 'Localhost', localhostRef: '/nonexistent/seccomp.json' } } };
  }),
  badContainer('a mount of a missing host path', INVALID_ARGUMENT, /host_path "\/nonexistent\/crion-bad" does not exist/, (c) => {
    c.mounts = [{ containerPath: '/data', hostPath: '/nonexistent/crion-bad' }];
  }),
  badContainer('an image volume of an image never pulled', NOT_FOUND, /mounts\[0\]\.image: image ".*never-pulled:1" not found/, (c) => {
    c.mounts = [{ containerPath: '/volume', readonly: true, image: { image: `${harnessRegistry().host}/crion-test/never-pulled:1` } }];
  }),
  badContainer('a writable image volume', INVALID_ARGUMENT, /mounts\[0\]\.readonly must be set/, (c) => {
    c.mounts = [{ containerPath: '/volume', readonly: false, image: { image: harnessImages().busybox.reference } }];
  }),
  badContainer('an image volume with a host path too', INVALID_ARGUMENT, /mounts\[0\]: host_path and image exclude each other/, (c) => {
    c.mounts = [{ containerPath: '/volume', hostPath: '/tmp', readonly: true, image: { image: harnessImages().busybox.reference } }];
  }),
  badContainer(
    'an image volume sub-path that climbs out of the image',
    INVALID_ARGUMENT,
    /image_sub_path "bin\/\.\.\/\.\." leads out of the image/,
    (c) => {
      c.mounts = [{ containerPath: '/volume', readonly: true, image: { image: harnessImages().busybox.reference }, imageSubPath: 'bin/../..' }];
    },
  ),
  badContainer('an image volume sub-path the image lacks', NOT_FOUND, /image_sub_path "not-existing": not-existing does not exist in image/, (c) => {
    c.mounts = [{ containerPath: '/volume', readonly: true, image: { image: harnessImages().busybox.reference }, imageSubPath: 'not-existing' }];
  }),
  badContainer('recursive_read_only without readonly (critest)', INVALID_ARGUMENT, /mounts\[0\]\.recursive_read_only needs readonly/, (c) => {
    c.mounts = [{ containerPath: '/data', hostPath: '/tmp', readonly: false, recursiveReadOnly: true }];
  }),
  badContainer(
    'recursive_read_only with host-to-container propagation (critest)',
    INVALID_ARGUMENT,
    /mounts\[0\]\.recursive_read_only needs propagation PROPAGATION_PRIVATE, not PROPAGATION_HOST_TO_CONTAINER/,
    (c) =>
      void (c.mounts = [
        { containerPath: '/data', hostPath: '/tmp', readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ]),
  ),
  badContainer(
    'recursive_read_only with bidirectional propagation (critest)',
    INVALID_ARGUMENT,
    /mounts\[0\]\.recursive_read_only needs propagation PROPAGATION_PRIVATE, not PROPAGATION_BIDIRECTIONAL/,
    (c) =>
      void (c.mounts = [
        { containerPath: '/data', hostPath: '/tmp', readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_BIDIRECTIONAL' },
      ]),
  ),
  badContainer('mount propagation 9', INVALID_ARGUMENT, /mounts\[0\]\.propagation: 9 is not a MountPropagation value/, (c) => {
    c.mounts = [{ containerPath: '/data', hostPath: '/tmp', propagation: 9 }];
  }),
  badContainer(
    'ipc namespace mode 99',
    INVALID_ARGUMENT,
    /namespace_options\.ipc: 99 is not a NamespaceMode value/,
    (c) => void (namespaceOptions(c).ipc = 99),
  ),
  badContainer('a PID namespace target that does not exist', NOT_FOUND, /e{64}/, (c) => {
    Object.assign(namespaceOptions(c), { pid: 'TARGET', targetId: 'e'.repeat(64) });
  }),
  badContainer('an executable that does not exist', FAILED_PRECONDITION, /\/no\/such\/binary.*no such file or directory/, (c) => {
    c.command = ['/no/such/binary'];
  }),
  runtimeCall(
    'CreateContainer',
    'the name of a container that exists',
    ({ podId, pod }) => ({ podSandboxId: podId, config: containerConfig('running', ['true']), sandboxConfig: pod }),
    ALREADY_EXISTS,
    /running_target/,
  ),

  runtimeCall('StartContainer', 'an unknown container', () => ({ containerId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall(
    'StartContainer',
    'a running container',
    ({ running }) => ({ containerId: running }),
    FAILED_PRECONDITION,
    /only a created container can start/,
  ),
  runtimeCall(
    'StartContainer',
    'an exited container',
    ({ exited }) => ({ containerId: exited }),
    FAILED_PRECONDITION,
    /only a created container can start/,
  ),
  runtimeCall('ContainerStatus', 'an unknown container', () => ({ containerId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall('ContainerStats', 'an unknown container', () => ({ containerId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall('UpdateContainerResources', 'an unknown container', () => ({ containerId: MISSING_ID, linux: {} }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall(
    'UpdateContainerResources',
    'an exited container',
    ({ exited }) => ({ containerId: exited, linux: { memoryLimitInBytes: String(64 << 20) } }),
    FAILED_PRECONDITION,
    /only a live container takes new limits/,
  ),
  runtimeCall('ExecSync', 'an unknown container', () => ({ containerId: MISSING_ID, cmd: ['true'], timeout: 10 }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall('ExecSync', 'no command', ({ running }) => ({ containerId: running, cmd: [], timeout: 10 }), INVALID_ARGUMENT, /needs a command/),
  runtimeCall(
    'ExecSync',
    'an argument with a NUL byte',
    ({ running }) => ({ containerId: running, cmd: ['echo', 'cut\0here'], timeout: 10 }),
    INVALID_ARGUMENT,
    /cmd\[1\] contains a NUL byte/,
  ),
  runtimeCall(
    'ExecSync',
    'an exited container',
    ({ exited }) => ({ containerId: exited, cmd: ['true'], timeout: 10 }),
    FAILED_PRECONDITION,
    /not running/,
  ),
  runtimeCall('ReopenContainerLog', 'an unknown container', () => ({ containerId: MISSING_ID }), NOT_FOUND, new RegExp(MISSING_ID)),
  runtimeCall('ReopenContainerLog', 'an exited container', ({ exited }) => ({ containerId: exited }), FAILED_PRECONDITION, /not running/),

  pull('no image', '', INVALID_ARGUMENT, /ImageSpec\.image/),
  pull('a registry port out of range', '127.0.0.1:99999/x:1', INVALID_ARGUMENT, /port 99999 is not 1 to 65535/),
  pull('an upper-case repository', '127.0.0.1:5000/Upper/Case:1', INVALID_ARGUMENT, /must be lowercase/),
  pull('a short digest', 'busybox@sha256:abc', INVALID_ARGUMENT, /invalid digest/),
  pull('a tag with a slash in it', 'busybox:a/b', INVALID_ARGUMENT, /invalid/),
  pull('a NUL byte in the name', 'busy\0box:1', INVALID_ARGUMENT, /image\.image contains a NUL byte/),
  pull('auth that is not base64 of user:password', 'busybox:1', INVALID_ARGUMENT, /AuthConfig\.auth/, { auth: 'bm9jb2xvbg==' }),
  {
    name: 'PullImage: a repository the registry does not have',
    service: 'images',
    method: 'PullImage',
    request: () => ({ image: { image: `${harnessRegistry().host}/crion-test/no-such-repository:1` } }),
    code: NOT_FOUND,
    message: /no-such-repository/,
  },
  {
    name: 'RemoveImage: no image',
    service: 'images',
    method: 'RemoveImage',
    request: () => ({ image: { image: '' } }),
    code: INVALID_ARGUMENT,
    message: /ImageSpec\.image/,
  },
  {
    name: 'ImageStatus: no image',
    service: 'images',
    method: 'ImageStatus',
    request: () => ({ image: { image: '' } }),
    code: INVALID_ARGUMENT,
    message: /ImageSpec\.image/,
  },
];

test(`${TABLE.length} malformed requests each get their own status code and leave the host as it was`, async (t) => {
  t.true(TABLE.length >= 60);
  const setup = await setUp(t);
  const pod = podConfig(setup, 'target', { sharedPid: false, cgroupParent: '' });
  const podId = await runPod(setup, pod);
  const running = await createContainer(setup, podId, pod, containerConfig('running', ['sleep', '3600']));
  await call(setup.runtime, 'StartContainer', { containerId: running });
  const exited = await createContainer(setup, podId, pod, containerConfig('exited', ['true']));
  await call(setup.runtime, 'StartContainer', { containerId: exited });
  await waitExited(setup, exited);
  const targets: Targets = { setup, podId, pod, running, exited };
  const before = await snapshot(setup);
  t.true(
    before.processes.some((line) => line.includes('sleep 3600')),
    'the snapshot sees the running container',
  );

  // Gathered, not asserted one by one: ava shows a test's first failed assertion only, and the table is read whole.
  const problems: string[] = [];
  const codes = new Map<string, number>();
  for (const bad of TABLE) {
    const client = bad.service === 'runtime' ? setup.runtime : setup.images;
    const deadline = new Date(Date.now() + ANSWER_DEADLINE_MS);
    const error = await call(client, bad.method, bad.request(targets), { deadline }).then(
      () => null,
      (failure: grpc.ServiceError) => failure,
    );
    const code = error === null ? 'OK' : grpc.status[error.code];
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (code !== grpc.status[bad.code] || !bad.message.test(error?.details ?? '')) {
      problems.push(`${bad.name}: ${code} ${JSON.stringify(error?.details ?? '')}, expected ${grpc.status[bad.code]} matching ${bad.message}`);
    }
    const after = await snapshot(setup);
    for (const key of Object.keys(before) as Array<keyof HostSnapshot>) {
      const added = after[key].filter((entry) => !before[key].includes(entry));
      const gone = before[key].filter((entry) => !after[key].includes(entry));
      if (added.length + gone.length > 0) problems.push(`${bad.name}: ${key} changed: +${JSON.stringify(added)} -${JSON.stringify(gone)}`);
    }
  }
  t.log(`${TABLE.length} requests: ${[...codes].map(([code, count]) => `${code} ${count}`).join(', ')}`);
  t.deepEqual(problems, []);
  t.false(codes.has('UNKNOWN'));
});
