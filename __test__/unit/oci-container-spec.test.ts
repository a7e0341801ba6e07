import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  containerSpec,
  type HostFacts,
  type OciSpec,
  type SandboxContext,
} from '../../src/oci/index.js';
import {
  containerConfig,
  containerSpecInput,
  hostFacts,
  podConfig,
  podLinux,
  sandboxContext,
  specProblems,
  withSecurity,
} from '../helpers/oci-fixtures.js';

function specFor(config: ContainerConfig__Output, options: { sandbox?: SandboxContext; host?: Partial<HostFacts> } = {}): OciSpec {
  return containerSpec(
    containerSpecInput({
      config,
      sandbox: options.sandbox ?? sandboxContext(),
      imageName: 'docker.io/library/busybox:1.36',
      rootfs: '/var/lib/crion/containers/c1/rootfs',
      host: hostFacts(options.host),
    }),
  );
}

const privilegedPod = (): SandboxContext => sandboxContext({ config: podConfig({}, { privileged: true }) });

test('a plain container: the whole spec', (t) => {
  const spec = specFor(containerConfig({ command: ['sleep', '3600'] }));
  t.deepEqual(specProblems(spec), []);
  t.is(spec.ociVersion, '1.0.2');
  t.deepEqual(spec.root, { path: '/var/lib/crion/containers/c1/rootfs', readonly: false });
  t.is(spec.hostname, 'web-0');
  t.deepEqual(spec.process.args, ['sleep', '3600']);
  t.false(spec.process.noNewPrivileges);
  t.false(spec.process.terminal);
  t.is(spec.process.apparmorProfile, undefined);
  t.is(spec.process.oomScoreAdj, undefined);
  t.is(spec.linux.cgroupsPath, '/kubepods/besteffort/podpod-uid-1/crion-c1');
  t.is(spec.linux.seccomp, undefined);
  t.is(spec.linux.sysctl, undefined);
  t.deepEqual(spec.linux.maskedPaths, []);
  t.deepEqual(spec.linux.readonlyPaths, []);
  // What runc reads must round-trip through JSON without losing anything.
  t.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
});

test('the same input gives the same spec', (t) => {
  const config = withSecurity({
    seccompProfilePath: 'runtime/default',
    capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: [], addAmbientCapabilities: [] },
  });
  t.is(JSON.stringify(specFor(config)), JSON.stringify(specFor(config)));
});

test("the kubelet's masked and read-only paths are applied as sent (critest MaskedPaths, ReadonlyPaths)", (t) => {
  const spec = specFor(withSecurity({ maskedPaths: [...DEFAULT_MASKED_PATHS, '/bin/ls'], readonlyPaths: ['/tmp'] }));
  t.deepEqual(spec.linux.maskedPaths, [...DEFAULT_MASKED_PATHS, '/bin/ls']);
  t.deepEqual(spec.linux.readonlyPaths, ['/tmp']);
  t.true(DEFAULT_READONLY_PATHS.includes('/proc/sys'));
});

test('a privileged container: everything opened up (critest Privileged)', (t) => {
  const spec = specFor(
    withSecurity({
      privileged: true,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      seccompProfilePath: 'runtime/default',
      capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: [] },
    }),
    { sandbox: privilegedPod() },
  );
  t.deepEqual(specProblems(spec), []);
  t.deepEqual([...spec.process.capabilities.bounding].sort(), [...hostFacts().capabilities].sort(), 'all crion holds, none dropped');
  t.deepEqual(spec.linux.maskedPaths, []);
  t.deepEqual(spec.linux.readonlyPaths, []);
  t.is(spec.linux.seccomp, undefined);
  t.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  t.false(spec.linux.namespaces.some((ns) => ns.type === 'cgroup'));
});

test('a privileged container needs a privileged pod', (t) => {
  t.throws(() => specFor(withSecurity({ privileged: true })), {
    instanceOf: InvalidArgumentError,
    message: 'linux.security_context.privileged is set but the pod sandbox is not privileged',
  });
});

test('no_new_privs and a read-only rootfs are passed on (critest NoNewPrivs, ReadOnlyRootfs)', (t) => {
  const spec = specFor(withSecurity({ noNewPrivs: true, readonlyRootfs: true }));
  t.true(spec.process.noNewPrivileges);
  t.true(spec.root.readonly);
});

const apparmor: Array<[string, Partial<LinuxContainerSecurityContext__Output>, HostFacts['apparmor'], string | undefined]> = [
  ['no AppArmor on the node: nothing', { apparmorProfile: 'runtime/default' }, null, undefined],
  ['unset on an AppArmor node: the default', {}, { defaultProfile: 'crion-default' }, 'crion-default'],
  ['RuntimeDefault', { apparmor: { profileType: 'RuntimeDefault', localhostRef: '' } }, { defaultProfile: 'crion-default' }, 'crion-default'],
  ['Unconfined', { apparmor: { profileType: 'Unconfined', localhostRef: '' } }, { defaultProfile: 'crion-default' }, undefined],
  ['a Localhost profile', { apparmor: { profileType: 'Localhost', localhostRef: 'k8s-nginx' } }, { defaultProfile: 'crion-default' }, 'k8s-nginx'],
  ['the legacy localhost/ form', { apparmorProfile: 'localhost/k8s-nginx' }, { defaultProfile: 'crion-default' }, 'k8s-nginx'],
];

for (const [title, security, facts, expected] of apparmor) {
  test(`AppArmor: ${title}`, (t) => {
    t.is(specFor(withSecurity(security), { host: { apparmor: facts } }).process.apparmorProfile, expected);
  });
}

test('AppArmor: a privileged container skips the default but keeps a named profile', (t) => {
  const host = { apparmor: { defaultProfile: 'crion-default' } };
  t.is(specFor(withSecurity({ privileged: true }), { sandbox: privilegedPod(), host }).process.apparmorProfile, undefined);
  t.is(
    specFor(withSecurity({ privileged: true, apparmorProfile: 'localhost/custom' }), { sandbox: privilegedPod(), host }).process.apparmorProfile,
    'custom',
  );
});

test('AppArmor: a named profile on a node without AppArmor is refused', (t) => {
  t.throws(() => specFor(withSecurity({ apparmorProfile: 'localhost/custom' })), {
    instanceOf: InvalidArgumentError,
    message: /linux\.security_context\.apparmor: profile "custom" was asked for, but AppArmor is not enabled/,
  });
});

test("annotations: crion's keys, then the request's except those the runtime acts on", (t) => {
  const spec = specFor(
    containerConfig({
      annotations: {
        'example.com/owner': 'team-a',
        'io.kubernetes.cri.container-type': 'sandbox',
        'org.systemd.property.CPUWeight': '10000',
        'run.oci.keep_original_groups': '1',
        'org.criu.config': '/etc/x',
      },
    }),
    { sandbox: sandboxContext({ runtimeHandler: 'runc' }) },
  );
  t.deepEqual(spec.annotations, {
    'example.com/owner': 'team-a',
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.sandbox-id': 'pod1',
    'io.kubernetes.cri.sandbox-name': 'web',
    'io.kubernetes.cri.sandbox-namespace': 'default',
    'io.kubernetes.cri.sandbox-uid': 'pod-uid-1',
    'io.kubernetes.cri.container-name': 'app',
    'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1.36',
    'io.kubernetes.cri.runtime-handler': 'runc',
  });
});

test("the pod's sysctls go into every container, which enters the pinned namespaces", (t) => {
  const sandbox = sandboxContext({
    config: podConfig({ linux: podLinux({ sysctls: { 'kernel.shm_rmid_forced': '1' } }) }),
  });
  const spec = specFor(containerConfig(), { sandbox });
  t.deepEqual(spec.linux.sysctl, { 'kernel.shm_rmid_forced': '1' });
  t.is(spec.linux.cgroupsPath, '/crion/crion-c1');
});

test("RuntimeDefault seccomp follows the container's capabilities", (t) => {
  const withAdmin = specFor(
    withSecurity({
      seccomp: { profileType: 'RuntimeDefault', localhostRef: '' },
      capabilities: { addCapabilities: ['SYS_ADMIN'], dropCapabilities: [], addAmbientCapabilities: [] },
    }),
  );
  t.true(withAdmin.linux.seccomp?.syscalls?.some((rule) => rule.names.includes('mount')));
  const plain = specFor(withSecurity({ seccomp: { profileType: 'RuntimeDefault', localhostRef: '' } }));
  t.false(plain.linux.seccomp?.syscalls?.some((rule) => rule.names.includes('mount')));
});

test('every combination critest drives yields a well-formed spec', (t) => {
  const variants: Array<[Partial<LinuxContainerSecurityContext__Output>, SandboxContext]> = [
    [{}, sandboxContext()],
    [{ readonlyRootfs: true, noNewPrivs: true }, sandboxContext()],
    [{ seccompProfilePath: 'runtime/default' }, sandboxContext()],
    [{ capabilities: { addCapabilities: ['ALL'], dropCapabilities: [], addAmbientCapabilities: [] } }, sandboxContext()],
    [{ capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: [] } }, sandboxContext()],
    [{ privileged: true }, privilegedPod()],
    [{ maskedPaths: ['/bin/ls'], readonlyPaths: ['/tmp'] }, sandboxContext()],
  ];
  for (const [security, sandbox] of variants) {
    t.deepEqual(specProblems(specFor(withSecurity(security), { sandbox })), [], JSON.stringify(security));
  }
});
