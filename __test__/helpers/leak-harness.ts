import type { ExecutionContext, TestFn } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCriPackage } from '../../src/cri/proto.js';
import { startDaemon, type Daemon } from './daemon.js';
import type { TestNetwork } from './test-network.js';
import { removeCgroupTree, snapshotHost, type HostSnapshot } from './host-snapshot.js';
import { publishCritestImages } from './critest-images.js';
import { startSharedRegistry, type Registry } from './registry.js';
import { publishTestImages, type TestImages } from './test-images.js';

/**
 * A daemon of a test's own, scoped so that a snapshot of the host taken
 * before a run of requests can be compared with one taken after: its own
 * bridge, subnet and cgroup parents, and every pod and container ID it
 * handed out. The leak, malformed-input and fault-injection tests share it.
 */

let registry: Registry;
let images: TestImages;
let confDir: string;

/** Registers the hooks that publish the test images on a shared registry before a file's tests, and clean up after them. */
export function useHarness(test: TestFn): void {
  test.before(async () => {
    registry = await startSharedRegistry();
    images = await publishTestImages(registry);
    // The pause stand-in, for the infra container of pods with a shared PID namespace.
    await publishCritestImages(registry);
    confDir = await mkdtemp(path.join(tmpdir(), 'crion-leak-'));
    await writeFile(path.join(confDir, 'registries.conf'), `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
  });
  test.after.always(async () => {
    await registry?.dispose();
    if (confDir) await rm(confDir, { recursive: true, force: true });
  });
}

/** The registry serving the test images; set once the hooks of `useHarness` have run. */
export function harnessRegistry(): Registry {
  return registry;
}

export function harnessImages(): TestImages {
  return images;
}

const cri = loadCriPackage();
export type Runtime = InstanceType<typeof cri.RuntimeService>;
export type Images = InstanceType<typeof cri.ImageService>;

/** Each test's own bridge, subnet and cgroup parents, so tests beside it on the host cannot blur what it sees. */
export interface Setup {
  /** The daemon serving now; a restarted one works on the first one's directory. */
  readonly daemon: Daemon;
  /** Every daemon that ran on `dir`, for their logs and to tell them from leftovers. */
  readonly daemons: readonly Daemon[];
  /** The first daemon's directory: root, state, CNI configs and pod logs. */
  readonly dir: string;
  readonly config: string;
  readonly runtime: Runtime;
  readonly images: Images;
  readonly bridge: string;
  readonly network: TestNetwork;
  /** A systemd slice name, the way the kubelet's systemd driver and critest name a pod's parent. */
  readonly sliceParent: string;
  /** What the cgroupfs driver makes of the slice name: the path systemd would have used. */
  readonly sliceTop: string;
  readonly slicePath: string;
  /** A cgroupfs path, the way the kubelet's cgroupfs driver names it. */
  readonly cgroupfsParent: string;
  readonly cgroupfsTop: string;
  readonly ids: Set<string>;
}

export const NETWORK_NAME = 'crion';
export const BROKEN_NETWORK_NAME = 'crion-broken';

/** `extraConfig`: lines appended to the daemon's config file, such as another runtime handler's table. */
export async function setUp(t: ExecutionContext, pauseImage = `${registry.host}/pause:3.10`, extraConfig: readonly string[] = []): Promise<Setup> {
  const token = randomBytes(4).toString('hex');
  const sliceTop = `/crionleak${token}.slice`;
  const cgroupfsTop = `/crion-leak-${token}`;
  // Registered first, so they run last: after the daemon and its containers are gone.
  t.teardown(async () => {
    await removeCgroupTree(sliceTop);
    await removeCgroupTree(cgroupfsTop);
  });
  const config = [
    '[image]',
    `registries_conf = "${path.join(confDir, 'registries.conf')}"`,
    'registries_conf_dir = "/nonexistent"',
    `pause_image = "${pauseImage}"`,
    ...extraConfig,
    '',
  ].join('\n');
  // The default network on the bridge and /24 the daemon helper claims for it (and removes after it).
  const daemon = await startDaemon(t, { config });
  const network = daemon.network!;
  const setup = await connect(t, daemon);
  await call(setup.images, 'PullImage', { image: { image: images.busybox.reference } });
  // Pulled here, or by the first pod that needs it if it cannot be.
  await call(setup.images, 'PullImage', { image: { image: pauseImage } }).catch(() => undefined);
  return {
    ...setup,
    daemons: [daemon],
    dir: daemon.dir,
    config,
    bridge: network.bridge,
    network,
    sliceParent: `crionleak${token}-pods.slice`,
    sliceTop,
    slicePath: `${sliceTop}/crionleak${token}-pods.slice`,
    cgroupfsParent: `${cgroupfsTop}/kubepods`,
    cgroupfsTop,
    ids: new Set(),
  };
}

/** Clients of `daemon`, and a teardown that removes its pods before it is disposed of: that runs CNI DEL. */
export async function connect(t: ExecutionContext, daemon: Daemon): Promise<{ daemon: Daemon; runtime: Runtime; images: Images }> {
  const runtime = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  const imageService = new cri.ImageService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(async () => {
    const pods = await call<{ items: Array<{ id: string }> }>(runtime, 'ListPodSandbox', {}).catch(() => ({ items: [] }));
    for (const pod of pods.items) await call(runtime, 'RemovePodSandbox', { podSandboxId: pod.id }).catch(() => undefined);
    runtime.close();
    imageService.close();
  });
  return { daemon, runtime, images: imageService };
}

/** A new daemon on the same root, state and CNI configs, as after a crash and a restart. */
export async function restart(t: ExecutionContext, setup: Setup): Promise<Setup> {
  const daemon = await startDaemon(t, {
    config: setup.config,
    args: ['--root', path.join(setup.dir, 'root'), '--state', path.join(setup.dir, 'state'), '--network-cni-config-dir', path.join(setup.dir, 'cni')],
  });
  return { ...setup, ...(await connect(t, daemon)), daemons: [...setup.daemons, daemon] };
}

type UnaryMethod<T> = (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: T) => void) => void;

/** One unary CRI call; rejects with the grpc-js error, whose `code` the tests check. */
export function call<T = unknown>(client: Runtime | Images, method: string, request: object, options: grpc.CallOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, UnaryMethod<T>>)[method]!;
    fn.call(client, request, options, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

export async function expectCode(t: ExecutionContext, promise: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
  const error = await t.throwsAsync(promise);
  t.is((error as grpc.ServiceError | undefined)?.code, code, `${grpc.status[code]} expected: ${error?.message}`);
  t.regex(error?.message ?? '', message);
}

/** Every pod and container ID the daemon ever logged, also those of creates that failed and never reached the client. */
export function loggedIds(setup: Setup): Set<string> {
  const ids = new Set(setup.ids);
  for (const line of setup.daemons.flatMap((daemon) => daemon.logs())) {
    for (const key of ['podSandboxId', 'containerId', 'infraContainerId']) {
      const value = line[key];
      if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) ids.add(value);
    }
  }
  return ids;
}

export function snapshot(setup: Setup): Promise<HostSnapshot> {
  return snapshotHost({
    dir: setup.dir,
    daemonPids: setup.daemons.filter((daemon) => daemon.running).map((daemon) => daemon.child.pid!),
    // Below the parents only: the parents are the caller's (the kubelet makes its own; runc makes critest's on demand).
    cgroupParents: [setup.slicePath, setup.cgroupfsParent],
    sharedCgroupParents: [DEFAULT_CGROUP_PARENT],
    bridge: setup.bridge,
    ids: loggedIds(setup),
    networkNames: [NETWORK_NAME, BROKEN_NETWORK_NAME],
  });
}

export interface PodOptions {
  readonly sharedPid: boolean;
  readonly cgroupParent: string;
  readonly hostPort?: number;
  readonly sysctls?: Record<string, string>;
  readonly seccompRef?: string;
  readonly hostNetwork?: boolean;
}

export function podConfig(setup: Setup, name: string, options: PodOptions) {
  return {
    metadata: { name, namespace: 'crion-leak', uid: `${name}-uid`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(setup.dir, 'logs', name),
    portMappings: options.hostPort === undefined ? [] : [{ protocol: 'TCP', containerPort: 80, hostPort: options.hostPort }],
    linux: {
      cgroupParent: options.cgroupParent,
      sysctls: options.sysctls ?? {},
      securityContext: {
        namespaceOptions: { pid: options.sharedPid ? 'POD' : 'CONTAINER', network: options.hostNetwork ? 'NODE' : 'POD' },
        seccomp: options.seccompRef === undefined ? null : { profileType: 'Localhost', localhostRef: options.seccompRef },
      },
    },
  };
}

export async function runPod(setup: Setup, config: ReturnType<typeof podConfig>, runtimeHandler = ''): Promise<string> {
  const { podSandboxId } = await call<{ podSandboxId: string }>(setup.runtime, 'RunPodSandbox', { config, runtimeHandler });
  setup.ids.add(podSandboxId);
  return podSandboxId;
}

export function containerConfig(name: string, command: string[], extra: { linux?: object; mounts?: object[]; image?: string } = {}) {
  return {
    metadata: { name },
    image: { image: extra.image ?? images.busybox.reference },
    command,
    logPath: `${name}.log`,
    mounts: extra.mounts ?? [],
    linux: extra.linux ?? {},
  };
}

export async function createContainer(setup: Setup, podId: string, pod: object, config: object): Promise<string> {
  const { containerId } = await call<{ containerId: string }>(setup.runtime, 'CreateContainer', {
    podSandboxId: podId,
    config,
    sandboxConfig: pod,
  });
  setup.ids.add(containerId);
  return containerId;
}

export interface Status {
  state: string;
  /** Nanoseconds since the epoch, as a decimal string. */
  startedAt: string;
  exitCode: number;
  reason: string;
  message: string;
}

export async function containerStatus(setup: Setup, id: string): Promise<Status & { pid: number }> {
  const { status, info } = await call<{ status: Status; info: Record<string, string> }>(setup.runtime, 'ContainerStatus', {
    containerId: id,
    verbose: true,
  });
  return { ...status, pid: (JSON.parse(info.info ?? '{}') as { pid?: number }).pid ?? 0 };
}

export async function waitExited(setup: Setup, id: string): Promise<Status> {
  for (;;) {
    const status = await containerStatus(setup, id);
    if (status.state === 'CONTAINER_EXITED') return status;
    await sleep(100);
  }
}

/** Where crion puts the containers of pods that name no cgroup parent. */
export const DEFAULT_CGROUP_PARENT = '/crion';
