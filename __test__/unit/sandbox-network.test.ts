import test from 'ava';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { checkPodSpecValues, containerLimits } from '../../src/oci/index.js';
import { hostFacts } from '../helpers/oci-fixtures.js';
import { sandboxRequest } from '../helpers/sandbox-fixtures.js';
import { InvalidArgumentError, PluginRefusedError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { NO_NRI, type NriHooks } from '../../src/nri/nri-hooks.js';
import type { PodNetworkRequest } from '../../src/network/pod-networks.js';
import {
  SandboxManager,
  type InfraContainers,
  type PodInitHost,
  type SandboxHost,
  type SandboxNetwork,
  type SandboxRecord,
  type SandboxRequest,
} from '../../src/sandbox/sandbox-manager.js';
import type { PodInitProcess, PodInitTarget } from '../../src/sandbox/pod-init.js';
import { RecordStore } from '../../src/state/record-store.js';
import { waitFor } from '../helpers/wait-for.js';

/** How the sandbox manager drives the pod network: when it attaches, and how a failing DEL is retried. */

const fakeHost: SandboxHost = {
  createNamespaces: async (request) => ({
    net: request.net ? path.join(request.dir, 'net') : null,
    ipc: request.ipc ? path.join(request.dir, 'ipc') : null,
    uts: request.uts ? path.join(request.dir, 'uts') : null,
  }),
  removeNamespaces: async () => {},
  mountShm: async () => {},
  unmount: async () => {},
};

/** Records attach, detach and resume calls; `failDetach` makes DEL fail, as a plugin that cannot reach its state would. */
class FakeNetwork implements SandboxNetwork {
  readonly attached: PodNetworkRequest[] = [];
  readonly detached: string[] = [];
  readonly resumed: string[] = [];
  /** Detaches and the pod's container stops and removals, in the order they happened. */
  readonly steps: string[] = [];
  failDetach = false;
  failAttach = false;

  async attach(request: PodNetworkRequest): Promise<string[]> {
    if (this.failAttach) throw new Error('no IP addresses available in range set');
    this.attached.push(request);
    return ['10.123.9.2', 'fd00::2'];
  }

  async detach(cacheFile: string): Promise<void> {
    this.detached.push(cacheFile);
    this.steps.push('detach');
    if (this.failDetach) throw new Error('DEL failed');
  }

  async resume(cacheFile: string): Promise<void> {
    this.resumed.push(cacheFile);
  }
}

function request(name: string, network: SandboxRequest['network'] = 'POD'): SandboxRequest {
  return sandboxRequest(name, { network, portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }] });
}

const noInfra: InfraContainers = { start: async () => ({ containerId: 'infra' }), stop: async () => {}, remove: async () => {} };

/** `reuseDir` opens a manager on another's directories, as a restarted daemon does. */
async function manager(
  t: { teardown(fn: () => Promise<void>): void },
  network: FakeNetwork,
  infra: InfraContainers = noInfra,
  reuseDir?: string,
  nri: NriHooks = NO_NRI,
  podInits: FakePodInits | null = null,
) {
  const dir = reuseDir ?? (await mkdtemp(path.join(tmpdir(), 'crion-sandbox-net-')));
  if (reuseDir === undefined) t.teardown(() => rm(dir, { recursive: true, force: true }));
  const output = new PassThrough();
  let logText = '';
  const events: string[] = [];
  output.on('data', (chunk: Buffer) => (logText += chunk.toString()));
  const log = createLogger({ level: 'info', format: 'json', destination: output });
  const sandboxes = new SandboxManager({
    records: await RecordStore.open<SandboxRecord>(path.join(dir, 'root'), 'sandbox.json', log),
    runtimeDir: path.join(dir, 'state'),
    host: fakeHost,
    infra,
    podInits: podInits ?? new FakePodInits(),
    pidHolder: podInits === null ? 'pause' : 'pod-init',
    containers: {
      stopAllOf: async (sandboxId) => void network.steps.push(`stop containers of ${sandboxId}`),
      removeAllOf: async (sandboxId) => void network.steps.push(`remove containers of ${sandboxId}`),
    },
    network,
    handlerProblem: (name) => (name === 'runc' ? null : `runtime handler "${name}" is not configured`),
    defaultHandler: () => 'runc',
    checkSpecValues: (pod) =>
      checkPodSpecValues(
        { sysctls: pod.sysctls, cgroupParent: pod.cgroupParent, hostNetwork: pod.network === 'NODE', hostIpc: pod.ipc === 'NODE' },
        'cgroupfs',
      ),
    checkResources: (resources) => void containerLimits(resources, hostFacts()),
    events: {
      publish: (type, containerId, sandboxId, removed) =>
        void events.push(`${type} ${containerId === sandboxId ? 'pod' : containerId}${removed ? ` (last record ${removed.state})` : ''}`),
    },
    nri,
    log,
  });
  return { sandboxes, dir, logText: () => logText, events };
}

test('a pod attaches with its pinned netns and port mappings and records its IPs; a host-network pod does not attach', async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, dir } = await manager(t, network);
  const pod = await sandboxes.run(request('web'));
  t.deepEqual(pod.ips, ['10.123.9.2', 'fd00::2']);
  t.like(network.attached[0], {
    sandboxId: pod.id,
    name: 'web',
    namespace: 'default',
    uid: 'web-uid',
    netns: path.join(dir, 'state', pod.id, 'ns', 'net'),
    cacheFile: path.join(dir, 'state', pod.id, 'network.json'),
  });
  t.deepEqual(network.attached[0]?.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }]);

  const host = await sandboxes.run(request('host', 'NODE'));
  t.deepEqual(host.ips, []);
  t.is(network.attached.length, 1);
});

test("a pod's containers are stopped before its network goes, and removed before the pod", async (t) => {
  const network = new FakeNetwork();
  const { sandboxes } = await manager(t, network);
  const pod = await sandboxes.run(request('ordered'));
  await sandboxes.stop(pod.id);
  await sandboxes.remove(pod.id);
  t.deepEqual(network.steps, [`stop containers of ${pod.id}`, 'detach', `stop containers of ${pod.id}`, `remove containers of ${pod.id}`, 'detach']);
});

test("the pod's own lifecycle is published under its sandbox ID: created and started once whole, stopped once, deleted", async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, events } = await manager(t, network);
  const pod = await sandboxes.run(request('announced'));
  t.deepEqual(events, ['CONTAINER_CREATED_EVENT pod', 'CONTAINER_STARTED_EVENT pod']);
  await sandboxes.stop(pod.id);
  await sandboxes.stop(pod.id);
  await sandboxes.remove(pod.id);
  await sandboxes.remove(pod.id);
  t.deepEqual(events.slice(2), ['CONTAINER_STOPPED_EVENT pod', 'CONTAINER_DELETED_EVENT pod (last record SANDBOX_NOTREADY)']);

  // A pod removed without a stop: its DELETED event does not call it ready.
  events.length = 0;
  const unstopped = await sandboxes.run(request('unstopped'));
  await sandboxes.remove(unstopped.id);
  t.deepEqual(events, ['CONTAINER_CREATED_EVENT pod', 'CONTAINER_STARTED_EVENT pod', 'CONTAINER_DELETED_EVENT pod (last record SANDBOX_NOTREADY)']);

  // A create that fails part way was never there for the kubelet.
  events.length = 0;
  network.failAttach = true;
  await t.throwsAsync(sandboxes.run(request('failed')));
  t.deepEqual(events, []);
});

test('a failed attach leaves no record or runtime directory', async (t) => {
  const network = new FakeNetwork();
  network.failAttach = true;
  const { sandboxes, dir } = await manager(t, network);
  await t.throwsAsync(sandboxes.run(request('web')), { message: /no IP addresses available/ });
  t.deepEqual(sandboxes.list(null), []);
  t.deepEqual(await readdir(path.join(dir, 'state')), []);
});

test('a failing DEL does not stop the pod but is retried, and a remove fails until DEL succeeds', async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, logText } = await manager(t, network);
  const pod = await sandboxes.run(request('web'));
  network.failDetach = true;
  await sandboxes.stop(pod.id);
  t.is(sandboxes.get(pod.id)?.state, 'SANDBOX_NOTREADY');
  t.regex(logText(), /CNI DEL failed/);
  await t.throwsAsync(sandboxes.remove(pod.id), { message: 'DEL failed' });
  t.truthy(sandboxes.get(pod.id), 'the record stays for the next remove');

  network.failDetach = false;
  await sandboxes.remove(pod.id);
  t.is(sandboxes.get(pod.id), undefined);
  t.is(network.detached.length, 3, 'stop, failed remove, remove');
});

test('after a restart only ready pods take up their network again', async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, dir } = await manager(t, network);
  const up = await sandboxes.run(request('up'));
  const stopped = await sandboxes.run(request('stopped'));
  await sandboxes.stop(stopped.id);
  await sandboxes.resumePods();
  t.deepEqual(network.resumed, [path.join(dir, 'state', up.id, 'network.json')]);
});

test('at start, the runtime directory of a pod without a record is detached and removed; a failing DEL keeps it for the next start', async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, dir } = await manager(t, network);
  const kept = await sandboxes.run(request('kept'));
  // What a daemon killed inside RunPodSandbox leaves: the runtime directory, never the record.
  const orphanId = 'f'.repeat(64);
  await mkdir(path.join(dir, 'state', orphanId, 'ns'), { recursive: true });
  network.failDetach = true;
  await sandboxes.removeOrphans();
  t.deepEqual(network.detached, [path.join(dir, 'state', orphanId, 'network.json')]);
  t.deepEqual((await readdir(path.join(dir, 'state'))).sort(), [kept.id, orphanId].sort());

  network.failDetach = false;
  await sandboxes.removeOrphans();
  t.deepEqual(await readdir(path.join(dir, 'state')), [kept.id]);
  t.truthy(sandboxes.get(kept.id), 'a pod with a record is left alone');
});

test('a pod is READY only once whole: one the daemon died creating is undone at the next start, its lease released', async (t) => {
  const network = new FakeNetwork();
  // The daemon "dies" during the CNI ADD: the attach never returns.
  network.attach = () => new Promise<string[]>(() => {});
  const attaching = attachCalled(network);
  const first = await manager(t, network);
  void first.sandboxes.run({ ...request('web'), pid: 'POD' });
  await attaching;
  t.deepEqual(first.sandboxes.list(null), [], 'a pod in the making is not listed (NRI plugins may still be deciding on it)');
  const [id] = await readdir(path.join(first.dir, 'state'));
  const inTheMaking = first.sandboxes.get(id!);
  t.truthy(inTheMaking);
  t.is(inTheMaking?.state, 'SANDBOX_NOTREADY', 'no pod without its network and infra container is READY');

  const afterRestart = new FakeNetwork();
  const { sandboxes } = await manager(t, afterRestart, noInfra, first.dir);
  await sandboxes.removeOrphans();
  t.deepEqual(sandboxes.list(null), [], 'undone, so the kubelet makes a new one');
  t.deepEqual(afterRestart.detached, [path.join(first.dir, 'state', inTheMaking!.id, 'network.json')], 'CNI DEL releases the lease');
  t.deepEqual(await readdir(path.join(first.dir, 'state')), []);
});

/** Resolves when `network` is asked to attach; a pod whose ADD waited for its infra container would never get there first. */
function attachCalled(network: FakeNetwork): Promise<void> {
  return new Promise((resolve) => {
    const attach = network.attach.bind(network);
    network.attach = (request) => {
      resolve();
      return attach(request);
    };
  });
}

/** An infra container that starts when released, so a test can see what runs meanwhile. */
function gatedInfra(outcome: 'start' | 'fail') {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const removed: string[] = [];
  const infra: InfraContainers = {
    start: async () => {
      await gate;
      if (outcome === 'fail') throw new Error('runc create failed');
      return { containerId: 'infra-1' };
    },
    stop: async () => {},
    remove: async (id) => void removed.push(id),
  };
  return { infra, release, removed };
}

test('a shared-PID pod attaches its network while its infra container starts, and records both', async (t) => {
  const network = new FakeNetwork();
  let releaseAttach!: () => void;
  const attachGate = new Promise<void>((resolve) => (releaseAttach = resolve));
  const attach = network.attach.bind(network);
  network.attach = async (request) => {
    await attachGate;
    return attach(request);
  };
  let infraStarted!: () => void;
  const infraStarting = new Promise<void>((resolve) => (infraStarted = resolve));
  const { sandboxes } = await manager(t, network, {
    ...noInfra,
    start: async () => {
      infraStarted();
      return { containerId: 'infra-1' };
    },
  });
  const running = sandboxes.run({ ...request('web'), pid: 'POD' });
  // The ADD cannot finish before the release, yet the infra container starts: one after the other would wait forever here.
  await infraStarting;
  releaseAttach();
  const pod = await running;
  t.is(pod.infraContainerId, 'infra-1');
  t.deepEqual(pod.ips, ['10.123.9.2', 'fd00::2']);
  t.like(sandboxes.get(pod.id), { infraContainerId: 'infra-1', ips: ['10.123.9.2', 'fd00::2'] });
});

test('when one of the network and the infra container fails, the other is undone once both have settled', async (t) => {
  const failedAttach = new FakeNetwork();
  failedAttach.failAttach = true;
  const started = gatedInfra('start');
  const first = await manager(t, failedAttach, started.infra);
  const attaching = attachCalled(failedAttach);
  const attachFailing = first.sandboxes.run({ ...request('web'), pid: 'POD' });
  await attaching;
  started.release();
  await t.throwsAsync(attachFailing, { message: /no IP addresses available/ });
  t.deepEqual(started.removed, ['infra-1'], 'the infra container that started is removed');
  t.deepEqual(first.sandboxes.list(null), []);

  const network = new FakeNetwork();
  const failing = gatedInfra('fail');
  const second = await manager(t, network, failing.infra);
  const infraFailing = second.sandboxes.run({ ...request('db'), pid: 'POD' });
  failing.release();
  await t.throwsAsync(infraFailing, { message: 'runc create failed' });
  t.is(network.detached.length, 1, 'the network attached meanwhile is detached');
  t.deepEqual(second.sandboxes.list(null), []);
  t.deepEqual(await readdir(path.join(second.dir, 'state')), []);
});

test('a pod config that would inject, escape or spin is INVALID_ARGUMENT naming its field, before anything is made', async (t) => {
  const network = new FakeNetwork();
  const { sandboxes, dir } = await manager(t, network);
  const base = request('safe');
  const dns = { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] };
  const cases: Array<[string, SandboxRequest, RegExp]> = [
    [
      'CNI_ARGS through the name',
      { ...base, metadata: { ...base.metadata, name: 'x;IP=10.89.77.77' } },
      /^metadata\.name "x;IP=10\.89\.77\.77" may not contain/,
    ],
    ['CNI_ARGS through the namespace', { ...base, metadata: { ...base.metadata, namespace: 'probe;IP=10.89.77.78' } }, /^metadata\.namespace /],
    [
      'a resolv.conf line through a server',
      { ...base, dns: { ...dns, servers: ['1.1.1.1\nnameserver 6.6.6.6'] } },
      /^dns_config\.servers\[0\] .* is not an IP address$/,
    ],
    ['two words as one search', { ...base, dns: { ...dns, searches: ['a.example b.example'] } }, /^dns_config\.searches\[0\] .* must be one word/],
    ['a line through an option', { ...base, dns: { ...dns, options: ['ndots:1\nnameserver 6.6.6.6'] } }, /^dns_config\.options\[0\] /],
    ['a hosts line through the hostname', { ...base, hostname: 'web\n6.6.6.6 registry' }, /^hostname .* is not a host name/],
    ['a hostname the kernel cannot take', { ...base, hostname: 'h'.repeat(65) }, /^hostname /],
    ['a relative log directory', { ...base, logDirectory: 'logs/pod' }, /^log_directory "logs\/pod" must be an absolute path$/],
    [
      'a log directory climbing out',
      { ...base, logDirectory: '/var/log/pods/../../etc' },
      /^log_directory .* may not contain "\." or "\.\." components$/,
    ],
    ['a log directory in /proc', { ...base, logDirectory: '/proc/1/probe' }, /^log_directory "\/proc\/1\/probe" is on a kernel pseudo-filesystem/],
    ['a log directory that is a device', { ...base, logDirectory: '/dev/null' }, /^log_directory "\/dev\/null" is on a kernel pseudo-filesystem/],
    ['a log directory that is a file', { ...base, logDirectory: '/etc/hostname' }, /^log_directory "\/etc\/hostname" is not a directory$/],
    [
      'a host port past 65535',
      { ...base, portMappings: [{ hostPort: 70000, containerPort: 80, protocol: 'tcp', hostIP: '' }] },
      /^port_mappings\[0\]\.host_port 70000 is not a port/,
    ],
    [
      'a container port of 0',
      { ...base, portMappings: [{ hostPort: 8080, containerPort: 0, protocol: 'tcp', hostIP: '' }] },
      /^port_mappings\[0\]\.container_port 0 /,
    ],
    [
      'a host IP that is not one',
      { ...base, portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: 'localhost' }] },
      /^port_mappings\[0\]\.host_ip /,
    ],
    ['a cgroup parent climbing out', { ...base, cgroupParent: '../../x' }, /^linux\.cgroup_parent: "\.\.\/\.\.\/x" may not contain/],
    ['a sysctl for the whole node', { ...base, sysctls: { 'kernel.panic': '1' } }, /^linux\.sysctls: kernel\.panic is not namespaced/],
  ];
  for (const [what, bad, message] of cases) {
    const error = await t.throwsAsync(sandboxes.run(bad), { instanceOf: InvalidArgumentError }, what);
    t.regex(error?.message ?? '', message, what);
  }
  t.deepEqual(network.attached, []);
  t.deepEqual(sandboxes.list(null), []);
  t.deepEqual(await readdir(path.join(dir, 'state')).catch(() => []), []);
  // The same pod with its values in order is made.
  t.is((await sandboxes.run({ ...base, dns, logDirectory: path.join(dir, 'logs') })).state, 'SANDBOX_READY');
});

test('NRI: a pod is not listed while plugins decide on it; a veto fails the run and undoes all of it, and a retry works', async (t) => {
  const network = new FakeNetwork();
  const told: string[] = [];
  let veto = true;
  const listedDuringHook: number[] = [];
  let sandboxes: SandboxManager | null = null;
  const nri: NriHooks = {
    ...NO_NRI,
    runPodSandbox: async (pod, commit) => {
      told.push(`run ${pod.metadata.name} ${pod.state}`);
      listedDuringHook.push(sandboxes!.list(null).length);
      if (veto) throw new PluginRefusedError('NRI plugin 00-test failed RunPodSandbox: induced');
      return commit();
    },
    stopPodSandbox: async (pod) => void told.push(`stop ${pod.metadata.name} after ${network.steps.at(-1)}`),
    removePodSandbox: async (pod) => void told.push(`remove ${pod.metadata.name}`),
  };
  const fixture = await manager(t, network, noInfra, undefined, nri);
  sandboxes = fixture.sandboxes;
  await t.throwsAsync(sandboxes.run(request('web')), { instanceOf: PluginRefusedError });
  t.deepEqual(listedDuringHook, [0]);
  t.deepEqual(sandboxes.list(null), []);
  t.deepEqual(await readdir(path.join(fixture.dir, 'state')), [], 'runtime directory, namespaces and shm undone');
  t.is(network.detached.length, 1, 'the CNI ADD undone');

  veto = false;
  const pod = await sandboxes.run(request('web'));
  t.deepEqual(listedDuringHook, [0, 0]);
  t.deepEqual(
    sandboxes.list(null).map((listed) => listed.id),
    [pod.id],
  );
  await sandboxes.stop(pod.id);
  await sandboxes.remove(pod.id);
  t.deepEqual(told, ['run web SANDBOX_READY', 'run web SANDBOX_READY', `stop web after stop containers of ${pod.id}`, 'remove web']);
});

/** Records what the manager asks of pod inits; `exit` plays an init's death, `failStart` a launcher that fails. */
class FakePodInits implements PodInitHost {
  readonly calls: string[] = [];
  private readonly exits = new Map<string, () => void>();
  failStart = false;

  async start(pod: PodInitTarget, pin: string): Promise<PodInitProcess> {
    this.calls.push(`start ${path.basename(pin)}`);
    if (this.failStart) throw new Error('starting the pod init: joining the network namespace');
    return { pid: 4711, pin };
  }

  follow(pod: PodInitTarget, init: PodInitProcess, exited: () => void): void {
    this.calls.push(`follow ${init.pid}`);
    this.exits.set(pod.id, exited);
  }

  async stop(_pod: PodInitTarget, init: PodInitProcess): Promise<void> {
    this.calls.push(`stop ${init.pid}`);
  }

  async stopUnrecorded(_pod: PodInitTarget, pin: string): Promise<void> {
    this.calls.push(`stop what runs in ${path.basename(pin)}`);
  }

  async remove(): Promise<void> {
    this.calls.push('remove');
  }

  exit(podId: string): void {
    this.exits.get(podId)?.();
  }
}

test('with pod inits, a shared-PID pod records its init and PID pin, not a pause container; the init ends with the pod', async (t) => {
  const network = new FakeNetwork();
  const podInits = new FakePodInits();
  let pauseStarted = false;
  const infra: InfraContainers = { ...noInfra, start: async () => ((pauseStarted = true), { containerId: 'infra-1' }) };
  const { sandboxes, dir, events } = await manager(t, network, infra, undefined, NO_NRI, podInits);
  const pod = await sandboxes.run({ ...request('web'), pid: 'POD' });
  t.false(pauseStarted);
  t.is(pod.infraContainerId, null);
  t.deepEqual(pod.podInit, { pid: 4711, pin: path.join(dir, 'state', pod.id, 'ns', 'pid') });
  t.deepEqual(sandboxes.get(pod.id)?.podInit, pod.podInit);
  t.deepEqual(podInits.calls, ['start pid', 'follow 4711'], 'followed once READY');

  const other = await sandboxes.run({ ...request('db') });
  t.is(other.podInit, undefined, 'a pod without a shared PID namespace has none');

  await sandboxes.stop(pod.id);
  await sandboxes.remove(pod.id);
  t.deepEqual(podInits.calls.slice(2), ['stop 4711', 'stop 4711', 'remove'], 'stopped with the pod (again by the remove), removed with it');
  t.deepEqual(
    events.filter((event) => event.startsWith('CONTAINER_STOPPED')),
    ['CONTAINER_STOPPED_EVENT pod'],
  );
});

test("a pod init's exit makes its pod NOTREADY, announced once and logged", async (t) => {
  const podInits = new FakePodInits();
  const { sandboxes, events, logText } = await manager(t, new FakeNetwork(), noInfra, undefined, NO_NRI, podInits);
  const pod = await sandboxes.run({ ...request('web'), pid: 'POD' });
  podInits.exit(pod.id);
  await waitFor('the pod NOTREADY', () => (sandboxes.get(pod.id)?.state === 'SANDBOX_NOTREADY' ? true : undefined));
  podInits.exit(pod.id);
  await waitFor('the second exit seen', () => (logText().match(/the pod init exited/g)?.length === 1 ? true : undefined));
  t.deepEqual(
    events.filter((event) => event.startsWith('CONTAINER_STOPPED')),
    ['CONTAINER_STOPPED_EVENT pod'],
  );
  t.regex(logText(), /the pod init exited: the pod is not ready/);
  t.regex(logText(), /"podInitPid":4711/);
});

test('a pod init is ended when the network fails beside it; a failed start leaves the network detached and nothing else', async (t) => {
  const failedAttach = new FakeNetwork();
  failedAttach.failAttach = true;
  const podInits = new FakePodInits();
  const first = await manager(t, failedAttach, noInfra, undefined, NO_NRI, podInits);
  await t.throwsAsync(first.sandboxes.run({ ...request('web'), pid: 'POD' }), { message: /no IP addresses available/ });
  t.deepEqual(podInits.calls, ['start pid', 'stop 4711', 'remove']);
  t.deepEqual(await readdir(path.join(first.dir, 'state')), []);

  const network = new FakeNetwork();
  const failing = new FakePodInits();
  failing.failStart = true;
  const second = await manager(t, network, noInfra, undefined, NO_NRI, failing);
  await t.throwsAsync(second.sandboxes.run({ ...request('db'), pid: 'POD' }), { message: /joining the network namespace/ });
  t.deepEqual(failing.calls, ['start pid']);
  t.is(network.detached.length, 1);
  t.deepEqual(second.sandboxes.list(null), []);
  t.deepEqual(await readdir(path.join(second.dir, 'state')), []);
});

test("after a restart, ready pods' inits are followed again, and the init of a pod the daemon died creating is ended through its pin", async (t) => {
  const network = new FakeNetwork();
  const first = await manager(t, network, noInfra, undefined, NO_NRI, new FakePodInits());
  const ready = await first.sandboxes.run({ ...request('web'), pid: 'POD' });
  network.attach = () => new Promise<string[]>(() => {});
  const attaching = attachCalled(network);
  void first.sandboxes.run({ ...request('db'), pid: 'POD' });
  await attaching;

  const podInits = new FakePodInits();
  const { sandboxes } = await manager(t, new FakeNetwork(), noInfra, first.dir, NO_NRI, podInits);
  await sandboxes.removeOrphans();
  await sandboxes.resumePods();
  t.deepEqual(podInits.calls, ['stop what runs in pid', 'remove', 'follow 4711']);
  t.deepEqual(
    sandboxes.list(null).map((pod) => pod.id),
    [ready.id],
  );
});
