/**
 * Complete CRI messages, pods, nodes and host lookups for the OCI spec
 * tests, with every field at the value grpc-js gives an unset one, so a
 * test states only what it is about. Also a structural check of a
 * generated config.json against the runtime-spec's required fields.
 */

import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxPodSandboxConfig__Output } from '../../src/generated/runtime/v1/LinuxPodSandboxConfig.js';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { LinuxSandboxSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxSandboxSecurityContext.js';
import type { Mount__Output } from '../../src/generated/runtime/v1/Mount.js';
import type { NamespaceOption__Output } from '../../src/generated/runtime/v1/NamespaceOption.js';
import type { PodSandboxConfig__Output } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerDefaults } from '../../src/image/manifest.js';
import type { HandlerFeatures } from '../../src/runtime/handler-features.js';
import {
  containerLimits,
  DEFAULT_CAPABILITIES,
  DEFAULT_SECCOMP_POLICY,
  type HostDevice,
  type HostFacts,
  type ContainerSpecInput,
  type HostLookups,
  type OciSpec,
  type SandboxContext,
} from '../../src/oci/index.js';

export function namespaceOptions(overrides: Partial<NamespaceOption__Output> = {}): NamespaceOption__Output {
  return { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '', usernsOptions: null, ...overrides };
}

export function securityContext(overrides: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespaceOptions: namespaceOptions(),
    selinuxOptions: null,
    runAsUser: null,
    runAsUsername: '',
    readonlyRootfs: false,
    supplementalGroups: [],
    apparmorProfile: '',
    seccompProfilePath: '',
    noNewPrivs: false,
    runAsGroup: null,
    maskedPaths: [],
    readonlyPaths: [],
    seccomp: null,
    apparmor: null,
    supplementalGroupsPolicy: 'Merge',
    ...overrides,
  };
}

export function sandboxSecurityContext(overrides: Partial<LinuxSandboxSecurityContext__Output> = {}): LinuxSandboxSecurityContext__Output {
  return {
    namespaceOptions: namespaceOptions(),
    selinuxOptions: null,
    runAsUser: null,
    readonlyRootfs: false,
    supplementalGroups: [],
    privileged: false,
    seccompProfilePath: '',
    runAsGroup: null,
    seccomp: null,
    apparmor: null,
    supplementalGroupsPolicy: 'Merge',
    ...overrides,
  };
}

export function resources(overrides: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpuPeriod: '0',
    cpuQuota: '0',
    cpuShares: '0',
    memoryLimitInBytes: '0',
    oomScoreAdj: '0',
    cpusetCpus: '',
    cpusetMems: '',
    hugepageLimits: [],
    unified: {},
    memorySwapLimitInBytes: '0',
    ...overrides,
  };
}

export function mount(overrides: Partial<Mount__Output> = {}): Mount__Output {
  return {
    containerPath: '/data',
    hostPath: '/srv/data',
    readonly: false,
    selinuxRelabel: false,
    propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [],
    gidMappings: [],
    recursiveReadOnly: false,
    image: null,
    imageSubPath: '',
    mountOptions: [],
    ...overrides,
  };
}

export function containerConfig(overrides: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: { image: 'busybox:1.36', annotations: {}, userSpecifiedImage: 'busybox', runtimeHandler: '', imageRef: '' },
    command: [],
    args: [],
    workingDir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    logPath: 'app/0.log',
    stdin: false,
    stdinOnce: false,
    tty: false,
    linux: { resources: null, securityContext: securityContext() },
    windows: null,
    CDIDevices: [],
    stopSignal: 'SIGNAL_RUNTIME_DEFAULT',
    ...overrides,
  };
}

/** A container config whose linux.security_context is `overrides` over the defaults. */
export function withSecurity(
  overrides: Partial<LinuxContainerSecurityContext__Output>,
  config: Partial<ContainerConfig__Output> = {},
): ContainerConfig__Output {
  return containerConfig({ ...config, linux: { resources: null, securityContext: securityContext(overrides) } });
}

/** A pod's linux section without a security context (CRI's defaults: every namespace the pod's). */
export function podLinux(overrides: Partial<LinuxPodSandboxConfig__Output> = {}): LinuxPodSandboxConfig__Output {
  return { cgroupParent: '', securityContext: null, sysctls: {}, overhead: null, resources: null, ...overrides };
}

export function podConfig(
  overrides: Partial<PodSandboxConfig__Output> = {},
  security: Partial<LinuxSandboxSecurityContext__Output> = {},
): PodSandboxConfig__Output {
  return {
    metadata: { name: 'web', uid: 'pod-uid-1', namespace: 'default', attempt: 0 },
    hostname: 'web-0',
    logDirectory: '/var/log/pods/default_web_pod-uid-1',
    dnsConfig: null,
    portMappings: [],
    labels: {},
    annotations: {},
    linux: {
      cgroupParent: '/kubepods/besteffort/podpod-uid-1',
      securityContext: sandboxSecurityContext(security),
      sysctls: {},
      overhead: null,
      resources: null,
    },
    windows: null,
    ...overrides,
  };
}

export function sandboxContext(overrides: Partial<SandboxContext> = {}): SandboxContext {
  return {
    id: 'pod1',
    config: podConfig(),
    namespaces: { network: '/run/crion/ns/pod1/net', ipc: '/run/crion/ns/pod1/ipc', uts: '/run/crion/ns/pod1/uts', pid: '/proc/4242/ns/pid' },
    files: {
      hosts: '/run/crion/pods/pod1/hosts',
      resolvConf: '/run/crion/pods/pod1/resolv.conf',
      hostname: '/run/crion/pods/pod1/hostname',
      shm: '/run/crion/pods/pod1/shm',
    },
    runtimeHandler: '',
    ...overrides,
  };
}

export function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    arch: 'amd64',
    hostname: 'node-1',
    cgroupDriver: 'cgroupfs',
    cgroupLayout: 'v2',
    oomScoreAdjFloor: null,
    capabilities: [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'],
    apparmor: null,
    seccomp: { runtimeDefault: DEFAULT_SECCOMP_POLICY },
    cgroupControllers: ['cpu', 'cpuset', 'memory', 'hugetlb', 'pids', 'io'],
    hugepageSizes: ['2MB', '1GB'],
    tolerateMissingHugetlbController: true,
    swapAccounting: true,
    defaultRlimits: [],
    ...overrides,
  };
}

/** A handler that can do everything crion asks of one (runc 1.1 on Linux 5.12 or later). */
export function handlerFeatures(overrides: Partial<HandlerFeatures> = {}): HandlerFeatures {
  return { recursiveReadOnlyMounts: { available: true }, ...overrides };
}

export const FUSE: HostDevice = { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 };
export const SDA: HostDevice = { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };

export function lookups(overrides: Partial<HostLookups> = {}): HostLookups {
  const devices = new Map([FUSE, SDA].map((device) => [device.path, device]));
  return {
    statDevice: (path) => devices.get(path) ?? null,
    listHostDevices: () => [FUSE, SDA],
    realpath: (path) => (path.startsWith('/missing') ? null : path.replace(/^\/link\//, '/target/')),
    readProfile: (path) => {
      throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    },
    ...overrides,
  };
}

export function imageDefaults(overrides: Partial<ContainerDefaults> = {}): ContainerDefaults {
  return {
    user: '',
    env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
    entrypoint: null,
    cmd: ['sh'],
    workingDir: '',
    labels: {},
    stopSignal: null,
    exposedPorts: [],
    volumes: [],
    ...overrides,
  };
}

/** containerSpec's input for a root container of busybox in the default pod; tests override what they look at. */
/** The limits default to what containerLimits makes of the input's config on the input's host. */
export function containerSpecInput(overrides: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  const input = {
    containerId: 'c1',
    config: containerConfig(),
    sandbox: sandboxContext(),
    image: imageDefaults(),
    imageName: 'busybox',
    rootfs: '/rootfs',
    imageVolumeSources: new Map<number, string>(),
    identity: { uid: 0, gid: 0, additionalGids: [0] },
    targetPidNamespace: null,
    host: hostFacts(),
    handler: handlerFeatures(),
    lookups: lookups(),
    ...overrides,
  };
  return { limits: containerLimits(input.config.linux?.resources ?? null, input.host), ...input };
}

/**
 * What the runtime-spec requires of a Linux config.json, and what runc
 * refuses: the problems found, empty when the document is well formed. It
 * checks the JSON text, so a `null` or `undefined` crion should have left
 * out shows up too.
 */
export function specProblems(spec: OciSpec): string[] {
  const problems: string[] = [];
  const doc = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  const text = JSON.stringify(spec);
  if (text.includes('null')) problems.push('contains null');
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  const strings = (value: unknown): boolean => Array.isArray(value) && value.every((item) => typeof item === 'string');
  const uint = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value >= 0;

  if (typeof doc.ociVersion !== 'string' || !/^1\.\d+\.\d+/.test(doc.ociVersion)) problems.push('ociVersion');
  const root = doc.root;
  if (!isObject(root) || typeof root.path !== 'string' || root.path === '' || typeof root.readonly !== 'boolean') {
    problems.push('root');
  }
  const process = doc.process;
  if (!isObject(process)) {
    problems.push('process');
  } else {
    if (!strings(process.args) || (process.args as string[]).length === 0) problems.push('process.args');
    if (typeof process.cwd !== 'string' || !process.cwd.startsWith('/')) problems.push('process.cwd');
    if (!strings(process.env) || !(process.env as string[]).every((entry) => entry.includes('='))) problems.push('process.env');
    const user = process.user;
    if (!isObject(user) || !uint(user.uid) || !uint(user.gid) || !Array.isArray(user.additionalGids)) problems.push('process.user');
    const caps = process.capabilities;
    if (!isObject(caps) || !['bounding', 'effective', 'inheritable', 'permitted', 'ambient'].every((set) => strings(caps[set]))) {
      problems.push('process.capabilities');
    }
    if (typeof process.terminal !== 'boolean' || typeof process.noNewPrivileges !== 'boolean') problems.push('process flags');
  }
  if (!Array.isArray(doc.mounts)) {
    problems.push('mounts');
  } else {
    for (const [i, entry] of doc.mounts.entries()) {
      if (!isObject(entry) || typeof entry.destination !== 'string' || !entry.destination.startsWith('/') || !strings(entry.options)) {
        problems.push(`mounts[${i}]`);
      }
    }
    const destinations = (doc.mounts as { destination: string }[]).map((entry) => entry.destination);
    destinations.forEach((destination, i) => {
      const parent = destinations.findIndex((other) => destination.startsWith(`${other}/`));
      if (parent > i) problems.push(`mounts: ${destination} comes before its parent ${destinations[parent]}`);
    });
  }
  const linux = doc.linux;
  if (!isObject(linux)) {
    problems.push('linux');
  } else {
    if (typeof linux.cgroupsPath !== 'string' || linux.cgroupsPath === '') problems.push('linux.cgroupsPath');
    const namespaces = linux.namespaces;
    if (!Array.isArray(namespaces)) {
      problems.push('linux.namespaces');
    } else {
      const types = namespaces.map((ns) => (isObject(ns) ? ns.type : undefined));
      if (new Set(types).size !== types.length) problems.push('linux.namespaces: a type repeats');
      if (!types.includes('mount')) problems.push('linux.namespaces: no mount namespace');
    }
    if (!isObject(linux.resources) || !Array.isArray(linux.resources.devices)) problems.push('linux.resources.devices');
    if (!strings(linux.maskedPaths) || !strings(linux.readonlyPaths)) problems.push('linux paths');
    if (typeof doc.hostname === 'string' && Array.isArray(namespaces) && !namespaces.some((ns) => isObject(ns) && ns.type === 'uts')) {
      problems.push('hostname without a UTS namespace');
    }
  }
  return problems;
}
