import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ContainerHost } from '../../src/container/container-host.js';
import { ContainerManager, type ContainerRecord } from '../../src/container/container-manager.js';
import type { ExitStatus, MonitoredContainer, MonitorLaunch } from '../../src/container/monitor.js';
import { RuntimeCommandError, type ContainerRuntime } from '../../src/container/oci-runtime.js';
import { FailedPreconditionError, PluginRefusedError } from '../../src/errors.js';
import type { ImageRecord } from '../../src/image/image-store.js';
import { createLogger } from '../../src/log/logger.js';
import { NO_NRI, type NriHooks } from '../../src/nri/nri-hooks.js';
import type { OverlayMountRequest } from '../../src/native/index.js';
import type { SandboxRecord } from '../../src/sandbox/sandbox-manager.js';
import { RecordStore } from '../../src/state/record-store.js';
import type { Mount__Output } from '../../src/generated/runtime/v1/Mount.js';
import { containerConfig, handlerFeatures, hostFacts, imageDefaults, lookups, mount, podConfig, resources } from '../helpers/oci-fixtures.js';
import { sandboxRecord } from '../helpers/sandbox-fixtures.js';

/**
 * The container state machine with the host, the OCI runtime, images and
 * pods faked: what each lifecycle step does to the machine, in which
 * order, and what a failure at each step leaves (nothing).
 */

interface FakeMonitor {
  readonly monitorPid: number;
  readonly stateDir: string;
  alive: boolean;
  readonly exited: Promise<void>;
  readonly markExited: () => void;
}

class FakeHost implements ContainerHost {
  readonly steps: string[] = [];
  readonly mounted = new Set<string>();
  readonly monitors = new Map<string, FakeMonitor>();
  readonly exitFiles = new Map<string, ExitStatus>();
  failMount = false;
  failMonitor: Error | null = null;
  private nextPid = 1000;

  async mountRootfs(request: OverlayMountRequest): Promise<void> {
    this.steps.push('mount rootfs');
    if (this.failMount) throw new Error('overlay refused the mount');
    this.mounted.add(request.target);
  }

  async unmountRootfs(target: string): Promise<void> {
    this.steps.push('unmount rootfs');
    this.mounted.delete(target);
  }

  processAlive(pid: number): boolean {
    return [...this.monitors.values()].some((monitor) => monitor.monitorPid === pid && monitor.alive);
  }

  watchExit(pid: number): Promise<void> {
    const monitor = [...this.monitors.values()].find((candidate) => candidate.monitorPid === pid && candidate.alive);
    return monitor ? monitor.exited : Promise.reject(new Error(`no process ${pid}`));
  }

  async killProcess(): Promise<void> {}

  async launchMonitor(launch: MonitorLaunch): Promise<MonitoredContainer> {
    this.steps.push('launch monitor');
    if (this.failMonitor) throw this.failMonitor;
    let markExited!: () => void;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const monitor: FakeMonitor = { monitorPid: this.nextPid++, stateDir: launch.stateDir, alive: true, exited, markExited };
    this.monitors.set(launch.containerId, monitor);
    return { pid: this.nextPid++, monitorPid: monitor.monitorPid };
  }

  async reopenLog(): Promise<void> {}

  /** Signals the monitors sent, as `<container ID> <signal>`; `refuseSignals` plays a monitor that cannot. */
  readonly signals: string[] = [];
  refuseSignals = false;
  /** What the container does on a signal from its monitor: by default nothing. */
  onSignal: (containerId: string, signal: number) => void = () => undefined;

  async signal(stateDir: string, signal: number): Promise<void> {
    if (this.refuseSignals) throw new Error('crion-monitor refused "signal": unknown command');
    const containerId = [...this.monitors].find(([, monitor]) => monitor.stateDir === stateDir)![0];
    this.signals.push(`${containerId} ${signal}`);
    this.onSignal(containerId, signal);
  }

  attach(): never {
    throw new Error('attach sessions are not part of these tests');
  }

  openTerminal(): never {
    throw new Error('exec sessions are not part of these tests');
  }

  async readExitFile(stateDir: string): Promise<ExitStatus | null> {
    return this.exitFiles.get(stateDir) ?? null;
  }

  /** The container's process ends: its monitor writes the exit file and exits. */
  exit(containerId: string, exitCode: number): void {
    const monitor = this.monitors.get(containerId);
    if (!monitor?.alive) return;
    this.exitFiles.set(monitor.stateDir, { exitCode, signal: null, oomKilled: false, exitedAt: '2026-12-07T01:02:03.123456789Z' });
    monitor.alive = false;
    monitor.markExited();
  }

  /** The monitor dies without writing an exit file, as under a daemon that is down and a kill -9. */
  vanish(containerId: string): void {
    const monitor = this.monitors.get(containerId)!;
    monitor.alive = false;
    monitor.markExited();
  }
}

class FakeRuntime implements ContainerRuntime {
  readonly handler = { name: 'runc', binary: '/usr/sbin/runc', root: '/run/runc', extraArgs: [] };
  readonly steps: string[] = [];
  /** What the container does on each signal: by default it dies of SIGKILL only. */
  onKill: (id: string, signal: string) => void;
  failStart: Error | null = null;
  readonly statuses = new Map<string, string>();

  constructor(private readonly host: FakeHost) {
    this.onKill = (id, signal) => {
      if (signal === 'KILL') host.exit(id, 137);
    };
  }

  async start(_id: string): Promise<string> {
    this.steps.push('start');
    if (this.failStart) throw this.failStart;
    return '';
  }

  async kill(id: string, signal: string): Promise<void> {
    this.steps.push(`kill ${signal}`);
    this.onKill(id, signal);
  }

  async delete(id: string): Promise<void> {
    this.steps.push('delete');
    // A created container's init goes with the delete, and its monitor records the exit.
    this.host.exit(id, 137);
  }

  async status(id: string): Promise<string | null> {
    return this.statuses.get(id) ?? null;
  }

  async update(): Promise<void> {
    this.steps.push('update');
  }

  async checkpoint(): Promise<void> {
    this.steps.push('checkpoint');
  }

  async pause(): Promise<void> {
    this.steps.push('pause');
  }

  async resume(): Promise<void> {
    this.steps.push('resume');
  }

  exec(): never {
    throw new Error('exec is not part of these tests');
  }
}

const IMAGE: ImageRecord = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['busybox:1.36'],
  repoDigests: [],
  layers: ['sha256:layer-1'],
  size: 0,
  user: '',
  pulledAt: '0',
};

function pod(dir: string, overrides: Partial<SandboxRecord> = {}): SandboxRecord {
  const config = podConfig({ logDirectory: path.join(dir, 'logs') });
  return sandboxRecord('pod1', {
    metadata: config.metadata!,
    hostname: 'web-0',
    logDirectory: config.logDirectory,
    config,
    namespaces: { net: '/run/crion/ns/pod1/net', ipc: '/run/crion/ns/pod1/ipc', uts: '/run/crion/ns/pod1/uts' },
    files: { hosts: '/run/crion/pods/pod1/hosts', resolvConf: '/run/crion/pods/pod1/resolv.conf', hostname: '/run/crion/pods/pod1/hostname' },
    ...overrides,
  });
}

interface Fixture {
  readonly dir: string;
  readonly host: FakeHost;
  readonly runtime: FakeRuntime;
  readonly manager: ContainerManager;
  /** Holds on the image's layers not yet given back. */
  readonly layerHolds: () => number;
  readonly infraExits: string[];
  /** What the manager published, as "TYPE containerId sandboxId". */
  readonly events: string[];
  /** A manager on the same directories and fakes, as a restarted daemon builds it. */
  readonly restart: () => Promise<ContainerManager>;
  /** What the stats say every running container holds in memory from now on. */
  readonly useMemory: (bytes: bigint | null) => void;
  /** What the exit and restore observers heard, in order: each exit's reason, and `recovered`. */
  readonly observed: string[];
}

async function fixture(t: ExecutionContext, sandbox: (dir: string) => SandboxRecord = pod, nri: NriHooks = NO_NRI): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-containers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const host = new FakeHost();
  const runtime = new FakeRuntime(host);
  const log = createLogger({ level: 'fatal', format: 'json' });
  const thePod = sandbox(dir);
  let holds = 0;
  let memoryInUse: bigint | null = null;
  const infraExits: string[] = [];
  const events: string[] = [];
  const observed: string[] = [];
  const build = async () =>
    new ContainerManager({
      records: await RecordStore.open<ContainerRecord>(path.join(dir, 'root'), 'container.json', log),
      runtimeDir: path.join(dir, 'state'),
      sandboxes: {
        get: (id) => (id === thePod.id ? thePod : undefined),
        require: (id) => {
          if (id !== thePod.id) throw new Error(`no pod ${id}`);
          return thePod;
        },
        infraExited: async (_sandboxId, containerId) => void infraExits.push(containerId),
      },
      images: {
        find: (name) => (name === 'busybox:1.36' || name === IMAGE.id ? IMAGE : undefined),
        require: () => IMAGE,
        config: async () => ({ architecture: 'amd64', os: 'linux', variant: null, created: null, config: imageDefaults(), diffIds: [], history: [] }),
        holdLayers: () => {
          holds++;
          let released = false;
          return async () => {
            if (!released) holds--;
            released = true;
          };
        },
      },
      layers: { lowerDirs: (layers) => layers.map((layer) => `l/${layer}`), overlayDir: path.join(dir, 'overlay') },
      runtimes: () => runtime,
      monitorBinary: '/usr/lib/crion/crion-monitor',
      ensureImage: async () => IMAGE,
      host: hostFacts(),
      handlerFeatures: async () => handlerFeatures(),
      lookups: lookups(),
      containerHost: host,
      memoryInUse: async () => memoryInUse,
      criu: { require: async () => 'criu' },
      events: { publish: (type, containerId, sandboxId) => void events.push(`${type} ${containerId} ${sandboxId}`) },
      nri,
      exitObserver: { exited: (reason) => void observed.push(reason) },
      restoreObserver: { recovered: () => void observed.push('recovered') },
      log,
    });
  const manager = await build();
  return {
    dir,
    host,
    runtime,
    manager,
    layerHolds: () => holds,
    infraExits,
    events,
    restart: build,
    observed,
    useMemory: (bytes) => {
      memoryInUse = bytes;
    },
  };
}

const app = (name = 'app') => containerConfig({ metadata: { name, attempt: 0 }, logPath: `${name}/0.log` });

async function leftovers(dir: string) {
  const list = (sub: string) => readdir(path.join(dir, sub)).catch(() => []);
  return { records: await list('root'), runtimeDirs: await list('state') };
}

test('create mounts the rootfs, writes the bundle and launches the monitor; the record is CREATED', async (t) => {
  const { dir, host, manager, layerHolds } = await fixture(t);
  const container = await manager.create('pod1', app());
  t.is(container.state, 'CONTAINER_CREATED');
  t.deepEqual(host.steps, ['mount rootfs', 'launch monitor']);
  t.true(host.mounted.has(path.join(dir, 'state', container.id, 'rootfs')));
  t.is((await manager.specOf(container.id))?.root.path, path.join(dir, 'state', container.id, 'rootfs'));
  t.is(container.logPath, path.join(dir, 'logs', 'app', '0.log'));
  t.is(layerHolds(), 1, "the image's layers are held");
  t.deepEqual(
    manager.list(null).map((listed) => listed.id),
    [container.id],
  );
});

test('a create whose rootfs cannot be mounted leaves no writable layer, runtime directory or layer hold', async (t) => {
  const { dir, host, runtime, manager, layerHolds } = await fixture(t);
  host.failMount = true;
  await t.throwsAsync(manager.create('pod1', app()), { message: /overlay refused/ });
  t.deepEqual(host.steps, ['mount rootfs'], 'nothing to unmount');
  t.deepEqual(runtime.steps, [], 'the runtime never saw it');
  t.is(layerHolds(), 0);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
});

test('a create whose monitor fails unwinds the runtime container, the mount, the directories and the hold', async (t) => {
  const { dir, host, runtime, manager, layerHolds } = await fixture(t);
  host.failMonitor = new Error('runc create failed: exec format error');
  await t.throwsAsync(manager.create('pod1', app()), { message: /exec format error/ });
  t.deepEqual(runtime.steps, ['delete']);
  t.deepEqual(host.steps, ['mount rootfs', 'launch monitor', 'unmount rootfs']);
  t.is(host.mounted.size, 0);
  t.is(layerHolds(), 0);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
});

test('a log path whose directory cannot be made is INVALID_ARGUMENT, undone before the monitor starts', async (t) => {
  const { dir, host, runtime, manager } = await fixture(t);
  await mkdir(path.join(dir, 'logs'), { recursive: true });
  await writeFile(path.join(dir, 'logs', 'app'), 'a file where the directory should be');
  await t.throwsAsync(manager.create('pod1', app()), { name: 'InvalidArgumentError', message: /log_path .*cannot make its directory/ });
  t.deepEqual(host.steps, ['mount rootfs', 'unmount rootfs']);
  t.deepEqual(runtime.steps, []);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
});

/** A container with the image mounted at /volume, changed by `change`. */
const withVolume = (name: string, change: Partial<Mount__Output> = {}) =>
  containerConfig({
    metadata: { name, attempt: 0 },
    logPath: `${name}/0.log`,
    mounts: [mount({ containerPath: '/volume', hostPath: '', readonly: true, image: { ...IMAGE_SPEC, image: 'busybox:1.36' }, ...change })],
  });
const IMAGE_SPEC = { image: '', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' };

test('an image volume is mounted after the rootfs, bound by the spec, held with the container and unmounted by its removal', async (t) => {
  const { dir, host, manager, layerHolds } = await fixture(t);
  const container = await manager.create('pod1', withVolume('volume'));
  const volume = path.join(dir, 'state', container.id, 'volumes', '0');
  t.deepEqual(host.steps, ['mount rootfs', 'mount rootfs', 'launch monitor']);
  t.true(host.mounted.has(volume));
  t.like(
    (await manager.specOf(container.id))?.mounts.find((entry) => entry.destination === '/volume'),
    { source: volume },
  );
  t.deepEqual(container.imageVolumes, [{ index: 0, imageId: IMAGE.id, layers: IMAGE.layers }]);
  t.is(layerHolds(), 1, "one hold for the image's and the volume's layers");
  await manager.remove(container.id);
  t.is(host.mounted.size, 0);
  t.is(layerHolds(), 0);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
});

const refusedVolumes: Array<[string, Partial<Mount__Output>, string, RegExp]> = [
  ['that is writable', { readonly: false }, 'InvalidArgumentError', /mounts\[0\]\.readonly must be set/],
  ['with a host path too', { hostPath: '/srv' }, 'InvalidArgumentError', /host_path and image exclude each other/],
  [
    'of an image the store lacks',
    { image: { ...IMAGE_SPEC, image: 'missing:1' } },
    'NotFoundError',
    /mounts\[0\]\.image: image "missing:1" not found/,
  ],
];

for (const [title, change, name, message] of refusedVolumes) {
  test(`an image volume ${title} is refused before anything is made`, async (t) => {
    const { dir, host, runtime, manager, layerHolds } = await fixture(t);
    await t.throwsAsync(manager.create('pod1', withVolume('refused', change)), { name, message });
    t.deepEqual(host.steps, []);
    t.deepEqual(runtime.steps, []);
    t.is(layerHolds(), 0);
    t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
  });
}

test('an image volume whose sub-path the image lacks is NOT_FOUND, its mount and the rootfs undone', async (t) => {
  const { dir, host, runtime, manager, layerHolds } = await fixture(t);
  await t.throwsAsync(manager.create('pod1', withVolume('sub-path', { imageSubPath: 'etc' })), {
    name: 'NotFoundError',
    message: /mounts\[0\]\.image_sub_path "etc": etc does not exist in image/,
  });
  t.deepEqual(host.steps, ['mount rootfs', 'mount rootfs', 'unmount rootfs', 'unmount rootfs']);
  t.deepEqual(runtime.steps, []);
  t.is(layerHolds(), 0);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
});

test('a second create under the same name and attempt is ALREADY_EXISTS; a pod that is not ready takes none', async (t) => {
  const { manager } = await fixture(t);
  await manager.create('pod1', app());
  await t.throwsAsync(manager.create('pod1', app()), { name: 'AlreadyExistsError' });
  const notReady = await fixture(t, (dir) => pod(dir, { state: 'SANDBOX_NOTREADY' }));
  await t.throwsAsync(notReady.manager.create('pod1', app()), { name: 'FailedPreconditionError', message: /not ready/ });
});

test('start runs the runtime start and follows the exit: a clean exit is Completed with its time', async (t) => {
  const { host, runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  await manager.start(id);
  t.deepEqual(runtime.steps, ['start']);
  t.is(manager.require(id).state, 'CONTAINER_RUNNING');
  await t.throwsAsync(manager.start(id), { name: 'FailedPreconditionError', message: /only a created container can start/ });
  host.exit(id, 0);
  await manager.stop(id, 0);
  t.like(manager.require(id), { state: 'CONTAINER_EXITED', exitCode: 0, reason: 'Completed', finishedAt: '1796605323123456789' });
});

test('a start the runtime refuses is recorded as StartError with its words, and the error reaches the caller', async (t) => {
  const { runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  runtime.failStart = new RuntimeCommandError('runc start failed: exec: "nope": not found', 'exec: "nope": not found');
  await t.throwsAsync(manager.start(id), { instanceOf: RuntimeCommandError });
  t.like(manager.require(id), { state: 'CONTAINER_EXITED', reason: 'StartError', message: 'exec: "nope": not found' });
});

test('each transition is published once it is recorded: created, started, stopped by its exit, deleted', async (t) => {
  const { host, manager, events } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  t.deepEqual(events, [`CONTAINER_CREATED_EVENT ${id} pod1`]);
  t.is(manager.require(id).state, 'CONTAINER_CREATED', 'published after the record says so');
  await manager.start(id);
  host.exit(id, 3);
  await manager.stop(id, 0);
  await manager.stop(id, 0);
  await manager.remove(id);
  await manager.remove(id);
  t.deepEqual(events, [
    `CONTAINER_CREATED_EVENT ${id} pod1`,
    `CONTAINER_STARTED_EVENT ${id} pod1`,
    `CONTAINER_STOPPED_EVENT ${id} pod1`,
    `CONTAINER_DELETED_EVENT ${id} pod1`,
  ]);
});

test('the exit observer hears each app container exit once, with its reason', async (t) => {
  const { host, runtime, manager, observed } = await fixture(t);
  const completes = await manager.create('pod1', app('completes'));
  const fails = await manager.create('pod1', app('fails'));
  const refused = await manager.create('pod1', app('refused'));
  await manager.start(completes.id);
  await manager.start(fails.id);
  host.exit(completes.id, 0);
  await manager.stop(completes.id, 0);
  host.exit(fails.id, 3);
  await manager.stop(fails.id, 0);
  await manager.stop(fails.id, 0);
  runtime.failStart = new RuntimeCommandError('runc start failed', 'exec: "nope": not found');
  await t.throwsAsync(manager.start(refused.id));
  t.deepEqual(observed, ['Completed', 'Error', 'StartError']);
});

test('a start the runtime refuses is published as a stop, never as a start', async (t) => {
  const { runtime, manager, events } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  runtime.failStart = new RuntimeCommandError('runc start failed', 'exec: "nope": not found');
  await t.throwsAsync(manager.start(id));
  t.deepEqual(events, [`CONTAINER_CREATED_EVENT ${id} pod1`, `CONTAINER_STOPPED_EVENT ${id} pod1`]);
});

test('a memory limit below what a running container uses is FAILED_PRECONDITION, and neither the runtime nor the record sees it', async (t) => {
  const { runtime, manager, useMemory } = await fixture(t);
  const container = await manager.create('pod1', app());
  await manager.start(container.id);
  useMemory(48n * 1024n * 1024n);
  const steps = runtime.steps.length;
  const error = await t.throwsAsync(manager.updateResources(container.id, resources({ memoryLimitInBytes: String(32 * 1024 * 1024) })));
  t.true(error instanceof FailedPreconditionError, String(error));
  t.regex(error.message, /memory_limit_in_bytes 33554432 is below the 50331648 bytes/);
  t.is(runtime.steps.length, steps, 'the runtime was not asked');
  t.is(manager.require(container.id).config.linux?.resources ?? null, null, 'the record keeps the limits in force');

  await manager.updateResources(container.id, resources({ memoryLimitInBytes: String(64 * 1024 * 1024) }));
  t.is(runtime.steps.at(-1), 'update');
  t.is(manager.require(container.id).config.linux?.resources?.memoryLimitInBytes, String(64 * 1024 * 1024));
});

test('stop sends the stop signal, waits out the grace period, then SIGKILL', async (t) => {
  const { host, runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  await manager.start(id);
  const started = Date.now();
  await manager.stop(id, 1);
  t.true(Date.now() - started >= 950, 'the grace period is waited out');
  t.deepEqual(host.signals, [`${id} 15`], 'the stop signal goes through the monitor');
  t.deepEqual(runtime.steps, ['start', 'kill KILL']);
  t.like(manager.require(id), { state: 'CONTAINER_EXITED', exitCode: 137, reason: 'Error' });
  await manager.stop(id, 1);
  t.deepEqual(runtime.steps, ['start', 'kill KILL'], 'stopping a stopped container does nothing and succeeds');
  t.is(host.signals.length, 1);
});

test('a stop signal the monitor cannot send goes through the runtime', async (t) => {
  const { host, runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  await manager.start(id);
  host.refuseSignals = true;
  runtime.onKill = (containerId, signal) => signal === 'TERM' && host.exit(containerId, 143);
  await manager.stop(id, 30);
  t.deepEqual(runtime.steps, ['start', 'kill TERM']);
  t.deepEqual(host.signals, []);
  t.is(manager.require(id).exitCode, 143);
});

test('a container that exits on its stop signal is not killed', async (t) => {
  const { host, runtime, manager } = await fixture(t);
  const config = containerConfig({ stopSignal: 'SIGNAL_SIGINT' });
  const { id } = await manager.create('pod1', config);
  await manager.start(id);
  host.onSignal = (containerId, signal) => signal === 2 && host.exit(containerId, 0);
  await manager.stop(id, 30);
  t.deepEqual(runtime.steps, ['start']);
  t.deepEqual(host.signals, [`${id} 2`]);
  t.is(manager.require(id).reason, 'Completed');
});

test('an exit while a stop is in flight ends the stop at once', async (t) => {
  const { host, runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  await manager.start(id);
  runtime.onKill = () => undefined;
  const started = Date.now();
  const stopping = manager.stop(id, 30);
  setTimeout(() => host.exit(id, 143), 100);
  await stopping;
  t.true(Date.now() - started < 5000, 'no waiting for the grace period');
  t.deepEqual(runtime.steps, ['start']);
  t.deepEqual(host.signals, [`${id} 15`]);
  t.like(manager.require(id), { state: 'CONTAINER_EXITED', exitCode: 143 });
});

test('a SIGKILL the container outlives fails the stop instead of reporting it stopped', async (t) => {
  const { runtime, manager } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  // Never started: the delete alone must end it; this init survives.
  runtime.delete = async () => void runtime.steps.push('delete');
  // Shortened by a never-started container's wait; the record stays as it was.
  await t.throwsAsync(manager.stop(id, 0), { name: 'FailedPreconditionError', message: /has not exited/ });
  t.is(manager.require(id).state, 'CONTAINER_CREATED');
});

test('remove kills a running container, then deletes it, unmounts, and leaves no record, directory or layer hold', async (t) => {
  const { dir, host, runtime, manager, layerHolds } = await fixture(t);
  const { id } = await manager.create('pod1', app());
  await manager.start(id);
  await manager.remove(id);
  t.deepEqual(runtime.steps, ['start', 'kill KILL', 'delete']);
  t.is(host.mounted.size, 0);
  t.is(layerHolds(), 0);
  t.is(manager.find(id), undefined);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
  await t.notThrowsAsync(manager.remove(id), 'removing a missing container succeeds');
});

test('after a restart: running containers are followed, exits meanwhile recorded, half-made creates swept', async (t) => {
  const { dir, host, runtime, manager, restart, observed } = await fixture(t);
  const running = await manager.create('pod1', app('running'));
  await manager.start(running.id);
  const exitedMeanwhile = await manager.create('pod1', app('exited'));
  await manager.start(exitedMeanwhile.id);
  const vanished = await manager.create('pod1', app('vanished'));
  await manager.start(vanished.id);
  // What a create the daemon died in leaves: a bundle for a container with no record.
  const orphan = path.join(dir, 'state', 'f'.repeat(64));
  await mkdir(path.join(orphan, 'rootfs'), { recursive: true });
  await writeFile(path.join(orphan, 'config.json'), JSON.stringify({ annotations: { 'io.kubernetes.cri.runtime-handler': 'runc' } }));

  // The daemon is down: one container exits, another's monitor dies without a word.
  host.exit(exitedMeanwhile.id, 3);
  host.vanish(vanished.id);
  runtime.steps.length = 0;
  const restarted = await restart();
  await restarted.restore();
  // Only the recovery: the first manager, still alive in this test as no daemon would be, races the restore to record the exits.
  t.is(observed.filter((heard) => heard === 'recovered').length, 1, 'the running container, and only it, is recovered');

  t.like(restarted.require(exitedMeanwhile.id), { state: 'CONTAINER_EXITED', exitCode: 3, reason: 'Error' });
  t.like(restarted.require(vanished.id), {
    state: 'CONTAINER_EXITED',
    exitCode: 255,
    message: 'the container monitor died without recording an exit status',
  });
  t.is(restarted.require(running.id).state, 'CONTAINER_RUNNING');
  await t.throwsAsync(stat(orphan), { code: 'ENOENT' }, 'the orphan bundle is gone');
  t.true(runtime.steps.includes('delete'), 'the orphan is deleted from the runtime');

  host.exit(running.id, 0);
  await restarted.stop(running.id, 0);
  t.is(restarted.require(running.id).reason, 'Completed', 'the running container is followed after the restart');
});

/** NRI hooks that record what they are told, and veto creates while `veto` is set. */
function recordingNri(): {
  nri: NriHooks;
  told: string[];
  listed: number[];
  setVeto: (veto: boolean) => void;
  setManager: (m: ContainerManager) => void;
} {
  const told: string[] = [];
  const listed: number[] = [];
  let veto = false;
  let manager: ContainerManager | null = null;
  const nri: NriHooks = {
    ...NO_NRI,
    createContainer: async (_pod, container, commit) => {
      told.push(`create ${container.metadata.name} ${container.state}`);
      listed.push(manager!.list(null).length);
      if (veto) throw new PluginRefusedError('NRI plugin 00-test failed CreateContainer: induced');
      return commit();
    },
    startContainer: async (_pod, container) => void told.push(`start ${container.metadata.name}`),
    stopContainer: async (_pod, container) => void told.push(`stop ${container.metadata.name} ${container.state}`),
    removeContainer: async (_pod, container) => void told.push(`remove ${container.metadata.name}`),
  };
  return { nri, told, listed, setVeto: (value) => (veto = value), setManager: (m) => (manager = m) };
}

test('NRI: a container is not listed while plugins decide; a veto unwinds the runtime container, mounts and directories', async (t) => {
  const recording = recordingNri();
  const { dir, runtime, manager, layerHolds } = await fixture(t, pod, recording.nri);
  recording.setManager(manager);
  recording.setVeto(true);
  await t.throwsAsync(manager.create('pod1', app()), { instanceOf: PluginRefusedError });
  t.deepEqual(recording.listed, [0]);
  t.deepEqual(runtime.steps, ['delete']);
  t.is(layerHolds(), 0);
  t.deepEqual(await leftovers(dir), { records: [], runtimeDirs: [] });
  recording.setVeto(false);
  const { id } = await manager.create('pod1', app());
  t.is(manager.require(id).state, 'CONTAINER_CREATED');
});

test('NRI: plugins hear create, start, the stop its exit made (a StopContainer after it adds none) and the removal, in order', async (t) => {
  const recording = recordingNri();
  const { host, manager } = await fixture(t, pod, recording.nri);
  recording.setManager(manager);
  const { id, metadata } = await manager.create('pod1', app());
  await manager.start(id);
  host.exit(id, 1);
  await manager.stop(id, 0);
  await manager.remove(id);
  const name = metadata.name;
  t.deepEqual(recording.told, [`create ${name} CONTAINER_CREATED`, `start ${name}`, `stop ${name} CONTAINER_EXITED`, `remove ${name}`]);
});
