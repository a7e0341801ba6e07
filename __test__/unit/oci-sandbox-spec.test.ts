import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { LinuxSandboxSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxSandboxSecurityContext.js';
import type { PodSandboxConfig__Output } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerDefaults } from '../../src/image/manifest.js';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, sandboxSpec, type HostFacts, type OciSpec } from '../../src/oci/index.js';
import { hostFacts, imageDefaults, lookups, podConfig, podLinux, sandboxContext, specProblems } from '../helpers/oci-fixtures.js';

function specFor(
  pod: Partial<PodSandboxConfig__Output> = {},
  security: Partial<LinuxSandboxSecurityContext__Output> = {},
  options: { image?: Partial<ContainerDefaults>; host?: Partial<HostFacts> } = {},
): OciSpec {
  return sandboxSpec({
    sandbox: sandboxContext({ config: podConfig(pod, security) }),
    image: imageDefaults({ entrypoint: ['/pause'], cmd: null, env: [], ...options.image }),
    imageName: 'registry.k8s.io/pause:3.9',
    rootfs: '/var/lib/crion/pods/pod1/rootfs',
    identity: { uid: 65535, gid: 65535, additionalGids: [65535] },
    host: hostFacts(options.host),
    lookups: lookups(),
  });
}

test('the infra process: the whole spec', (t) => {
  const spec = specFor();
  t.deepEqual(specProblems(spec), []);
  t.deepEqual(spec.root, { path: '/var/lib/crion/pods/pod1/rootfs', readonly: true });
  t.deepEqual(spec.process.args, ['/pause']);
  t.deepEqual(spec.process.user, { uid: 65535, gid: 65535, additionalGids: [65535] });
  t.deepEqual(spec.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=web-0']);
  t.is(spec.process.cwd, '/');
  t.true(spec.process.noNewPrivileges);
  t.is(spec.process.oomScoreAdj, -998);
  t.deepEqual([...spec.process.capabilities.bounding].sort(), [...DEFAULT_CAPABILITIES].sort());
  t.is(spec.hostname, 'web-0');
  t.deepEqual(spec.linux.resources.cpu, { shares: 2 });
  t.is(spec.linux.cgroupsPath, '/kubepods/besteffort/podpod-uid-1/crion-pod1');
  t.deepEqual(spec.linux.maskedPaths, DEFAULT_MASKED_PATHS);
  t.is(spec.annotations['io.kubernetes.cri.container-type'], 'sandbox');
  t.is(spec.annotations['io.kubernetes.cri.sandbox-log-directory'], '/var/log/pods/default_web_pod-uid-1');
  t.is(spec.annotations['io.kubernetes.cri.image-name'], 'registry.k8s.io/pause:3.9');
  t.is(spec.annotations['io.kubernetes.cri.container-name'], undefined);
  for (const file of ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname']) {
    t.is(spec.mounts.find((entry) => entry.destination === file)?.options.at(-1), 'ro', file);
  }
});

test('the infra oom_score_adj is raised to the floor crion cannot go below', (t) => {
  t.is(specFor({}, {}, { host: { oomScoreAdjFloor: -500 } }).process.oomScoreAdj, -500);
});

test("the infra process takes the pod's sysctls and refuses node-wide ones", (t) => {
  t.deepEqual(specFor({ linux: podLinux({ sysctls: { 'net.core.somaxconn': '1024' } }) }).linux.sysctl, {
    'net.core.somaxconn': '1024',
  });
  t.throws(() => specFor({ linux: podLinux({ sysctls: { 'kernel.panic': '1' } }) }), {
    instanceOf: InvalidArgumentError,
    message: /kernel\.panic is not namespaced/,
  });
});

test("a privileged pod's infra process is unconfined", (t) => {
  const spec = specFor({}, { privileged: true, seccompProfilePath: 'runtime/default' });
  t.is(spec.linux.seccomp, undefined);
  t.deepEqual(spec.linux.maskedPaths, []);
  t.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  t.deepEqual(specProblems(spec), []);
});

test('entrypoint and cmd of the pause image are combined, and one of them is required', (t) => {
  t.deepEqual(specFor({}, {}, { image: { entrypoint: null, cmd: ['/pause', '-v'] } }).process.args, ['/pause', '-v']);
  t.throws(() => specFor({}, {}, { image: { entrypoint: null, cmd: null } }), {
    instanceOf: InvalidArgumentError,
    message: 'the pod infra image registry.k8s.io/pause:3.9 has no ENTRYPOINT or CMD',
  });
});

test("a host-network pod has the node's hostname", (t) => {
  const spec = specFor({ hostname: '' }, { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD', targetId: '', usernsOptions: null } });
  t.is(spec.hostname, undefined);
  t.true(spec.process.env.includes('HOSTNAME=node-1'));
});
