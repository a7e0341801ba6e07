import test from 'ava';
import { CRI_PACKAGE, loadCriDefinition } from '../../src/cri/proto.js';
import { RequestChecks } from '../../src/cri/request-checks.js';
import { InvalidArgumentError } from '../../src/errors.js';

const checks = new RequestChecks(loadCriDefinition(), CRI_PACKAGE);

function pod(extra: { portMappings?: object[]; linux?: object; labels?: object; annotations?: object } = {}) {
  return {
    config: { metadata: { name: 'p', namespace: 'n', uid: 'u', attempt: 0 }, hostname: 'p', portMappings: [], labels: {}, annotations: {}, ...extra },
  };
}

function refusal(typeName: string, request: unknown): string {
  const error = (() => {
    try {
      checks.check(typeName, request);
      return null;
    } catch (caught) {
      return caught;
    }
  })();
  if (!(error instanceof InvalidArgumentError)) throw new Error(`${typeName} was not refused: ${String(error)}`);
  return error.message;
}

test('a well-formed request passes, its enums given by name', (t) => {
  t.notThrows(() =>
    checks.check(
      'RunPodSandboxRequest',
      pod({
        portMappings: [{ protocol: 'UDP', containerPort: 53, hostPort: 5353 }],
        linux: { securityContext: { namespaceOptions: { network: 'NODE' } } },
      }),
    ),
  );
});

test('an enum number the proto does not name is refused, naming the field as api.proto spells it', (t) => {
  t.is(
    refusal('RunPodSandboxRequest', pod({ portMappings: [{ protocol: 'TCP' }, { protocol: 7, containerPort: 80, hostPort: 8080 }] })),
    'config.port_mappings[1].protocol: 7 is not a Protocol value',
  );
  t.is(
    refusal('RunPodSandboxRequest', pod({ linux: { securityContext: { namespaceOptions: { network: 99 } } } })),
    'config.linux.security_context.namespace_options.network: 99 is not a NamespaceMode value',
  );
  t.regex(
    refusal('CreateContainerRequest', { podSandboxId: 'x', config: { stopSignal: 1000 } }),
    /^config\.stop_signal: 1000 is not a Signal value$/,
  );
});

test('a NUL byte in a string is refused wherever it is: arguments, commands, cgroup parents, sysctls, labels', (t) => {
  t.is(refusal('CreateContainerRequest', { podSandboxId: 'x', config: { args: ['-c', 'echo\0rm'] } }), 'config.args[1] contains a NUL byte');
  t.is(refusal('ExecSyncRequest', { containerId: 'c', cmd: ['ls\0'], timeout: '0' }), 'cmd[0] contains a NUL byte');
  t.is(refusal('RunPodSandboxRequest', pod({ linux: { cgroupParent: '/kubepods\0/x' } })), 'config.linux.cgroup_parent contains a NUL byte');
  t.is(
    refusal('RunPodSandboxRequest', pod({ linux: { sysctls: { 'net.core.somaxconn': '1\0' } } })),
    'config.linux.sysctls["net.core.somaxconn"] contains a NUL byte',
  );
  t.is(refusal('RunPodSandboxRequest', pod({ labels: { 'a\0': 'b' } })), 'config.labels key contains a NUL byte');
  t.is(refusal('PullImageRequest', { image: { image: 'busybox\0:1' } }), 'image.image contains a NUL byte');
});

test('annotation values are opaque data and may hold a NUL', (t) => {
  t.notThrows(() => checks.check('RunPodSandboxRequest', pod({ annotations: { note: 'a\0b' } })));
});
