import { mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { ContainerRecord } from '../container/container-record.js';
import { FailedPreconditionError, PluginRefusedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';
import { Multiplex, PLUGIN_SERVICE_CONN, RUNTIME_SERVICE_CONN } from './multiplex.js';
import { ALL_EVENTS, NRI_VERSION, NriEvent, PLUGIN_SERVICE, RUNTIME_SERVICE, decode, encode, nriContainer, nriPod } from './nri-api.js';
import type { NriHooks } from './nri-hooks.js';
import { SyncGate } from './sync-gate.js';
import { CODE_DEADLINE_EXCEEDED, CODE_UNAVAILABLE, CODE_UNIMPLEMENTED, TtrpcChannel, TtrpcError, type TtrpcHandler } from './ttrpc.js';

/**
 * The NRI plugins connected to crion's socket, and the lifecycle events
 * they are told of (containerd/nri pkg/adaptation is the reference). A
 * plugin dials the socket, registers (name and index), is configured (it
 * answers with the events it wants) and synchronized with the pods and
 * containers there are; from then on it hears each event it subscribed to,
 * plugins in index order, one after the other. A plugin whose connection
 * ends, or that does not answer in time, is dropped; its error fails a
 * RunPodSandbox or CreateContainer, and is only logged for other events.
 */

/** containerd's default: how long a plugin has to register after it connects. */
const REGISTRATION_TIMEOUT_MS = 5_000;
/**
 * How long a plugin has to answer a request. containerd's default is 2 s; critest holds a plugin's
 * Synchronize open 2 s on purpose, and the CRI call a hook holds up has the kubelet's 2-minute deadline.
 */
const REQUEST_TIMEOUT_MS = 10_000;

export interface NriPluginsDeps {
  readonly socketPath: string;
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  /** The pods and containers a newly connected plugin is synchronized with: ready pods and their app containers. */
  readonly snapshot: () => { pods: SandboxRecord[]; containers: ContainerRecord[] };
  readonly log: Logger;
}

interface Plugin {
  readonly name: string;
  readonly index: string;
  readonly events: number;
  readonly client: TtrpcChannel;
  readonly close: () => void;
}

export class NriPlugins implements NriHooks {
  private plugins: Plugin[] = [];
  private readonly gate = new SyncGate();
  private server: net.Server | null = null;
  private readonly stoppedPods = new Set<string>();
  private readonly stoppedContainers = new Map<string, Promise<void>>();

  constructor(private readonly deps: NriPluginsDeps) {}

  async listen(): Promise<void> {
    await mkdir(path.dirname(this.deps.socketPath), { recursive: true, mode: 0o755 });
    // The default socket is every runtime's on the node: one that answers is another's, not a leftover to replace.
    if (await answers(this.deps.socketPath)) {
      throw new FailedPreconditionError(`another process serves NRI on ${this.deps.socketPath}; set nri.socket_path or stop it`);
    }
    await rm(this.deps.socketPath, { force: true });
    const server = net.createServer((socket) => void this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.deps.socketPath, () => resolve());
    });
    this.server = server;
    this.deps.log.info({ socket: this.deps.socketPath }, 'NRI socket listening');
  }

  async close(): Promise<void> {
    for (const plugin of this.plugins) plugin.close();
    this.plugins = [];
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async accept(socket: net.Socket): Promise<void> {
    let registered: (registration: { name: string; index: string }) => void = () => {};
    const registration = new Promise<{ name: string; index: string }>((resolve) => (registered = resolve));
    let ended: () => void = () => {};
    const connectionEnded = new Promise<void>((resolve) => (ended = resolve));
    const mux = new Multiplex(socket, () => {
      ended();
      this.drop(client);
    });
    const client = new TtrpcChannel(mux.open(PLUGIN_SERVICE_CONN));
    new TtrpcChannel(mux.open(RUNTIME_SERVICE_CONN), this.runtimeService(registered));
    const close = (): void => mux.close();
    let log = this.deps.log;
    try {
      const { name, index } = await timeout(registration, connectionEnded, REGISTRATION_TIMEOUT_MS, 'the plugin did not register');
      log = log.child({ nriPlugin: `${index}-${name}` });
      const configured = decode<{ events: number }>(
        'ConfigureResponse',
        await client.call(
          PLUGIN_SERVICE,
          'Configure',
          encode('ConfigureRequest', {
            runtimeName: this.deps.runtimeName,
            runtimeVersion: this.deps.runtimeVersion,
            registrationTimeout: REGISTRATION_TIMEOUT_MS,
            requestTimeout: REQUEST_TIMEOUT_MS,
            NRIVersion: NRI_VERSION,
          }),
          REQUEST_TIMEOUT_MS,
        ),
      );
      const events = configured.events === 0 ? ALL_EVENTS : configured.events;
      if ((events & ~ALL_EVENTS) !== 0) throw new Error(`the plugin subscribed to unknown events 0x${events.toString(16)}`);
      const plugin: Plugin = { name, index, events, client, close };
      // Alone at the gate: no pod or container create is between its hook and its record while the plugin is synchronized.
      await this.gate.exclusive(async () => {
        const { pods, containers } = this.deps.snapshot();
        const answer = decode<{ update: unknown[] }>(
          'SynchronizeResponse',
          await client.call(
            PLUGIN_SERVICE,
            'Synchronize',
            encode('SynchronizeRequest', { pods: pods.map(nriPod), containers: containers.map(nriContainer), more: false }),
            REQUEST_TIMEOUT_MS,
          ),
        );
        // A plugin that counts on its updates would be wrong about every container from then on.
        if (answer.update.length > 0)
          throw new Error(`the plugin asked for ${answer.update.length} container updates in Synchronize; crion cannot apply them`);
        if (socket.destroyed) throw new Error('the plugin disconnected during Synchronize');
        this.plugins = [...this.plugins, plugin].sort(byIndex);
      });
      log.info({ events }, 'NRI plugin connected');
    } catch (error) {
      log.warn({ err: error }, 'NRI plugin rejected');
      close();
    }
  }

  /** The Runtime service a plugin calls: RegisterPlugin; UpdateContainers is not offered. */
  private runtimeService(registered: (registration: { name: string; index: string }) => void): Map<string, TtrpcHandler> {
    return new Map<string, TtrpcHandler>([
      [
        `${RUNTIME_SERVICE}/RegisterPlugin`,
        (payload) => {
          const request = decode<{ pluginName: string; pluginIdx: string }>('RegisterPluginRequest', payload);
          if (request.pluginName === '') throw new TtrpcError(3, 'RegisterPlugin needs plugin_name');
          if (!/^[0-9]{2}$/.test(request.pluginIdx)) throw new TtrpcError(3, `plugin index "${request.pluginIdx}" is not two digits`);
          registered({ name: request.pluginName, index: request.pluginIdx });
          return Promise.resolve(encode('Empty', {}));
        },
      ],
      [
        `${RUNTIME_SERVICE}/UpdateContainers`,
        () => Promise.reject(new TtrpcError(CODE_UNIMPLEMENTED, 'crion does not apply unsolicited container updates from NRI plugins')),
      ],
    ]);
  }

  private drop(plugin: TtrpcChannel): void {
    const dropped = this.plugins.find((candidate) => candidate.client === plugin);
    if (!dropped) return;
    this.plugins = this.plugins.filter((candidate) => candidate !== dropped);
    this.deps.log.info({ nriPlugin: `${dropped.index}-${dropped.name}` }, 'NRI plugin disconnected');
  }

  async runPodSandbox<T>(pod: SandboxRecord, commit: () => Promise<T>): Promise<T> {
    return this.gate.shared(async () => {
      await this.dispatch(NriEvent.RUN_POD_SANDBOX, 'RunPodSandbox', { pod: nriPod(pod) }, true);
      return commit();
    });
  }

  /** Once per pod, after its containers stopped; a second stop is no event. */
  async stopPodSandbox(pod: SandboxRecord): Promise<void> {
    if (this.stoppedPods.has(pod.id)) return;
    this.stoppedPods.add(pod.id);
    await this.dispatch(NriEvent.STOP_POD_SANDBOX, 'StopPodSandbox', { pod: nriPod(pod) }, false);
  }

  async removePodSandbox(pod: SandboxRecord): Promise<void> {
    await this.stopPodSandbox(pod);
    this.stoppedPods.delete(pod.id);
    await this.dispatch(NriEvent.REMOVE_POD_SANDBOX, 'RemovePodSandbox', { pod: nriPod(pod) }, false);
  }

  async createContainer<T>(pod: SandboxRecord, container: ContainerRecord, commit: () => Promise<T>): Promise<T> {
    return this.gate.shared(async () => {
      const answers = await this.dispatch(
        NriEvent.CREATE_CONTAINER,
        'CreateContainer',
        { pod: nriPod(pod), container: nriContainer(container) },
        true,
      );
      for (const { plugin, payload } of answers) {
        const answer = decode<{ adjust: Record<string, unknown> | null; update: unknown[]; evict: unknown[] }>('CreateContainerResponse', payload);
        if (answer.adjust !== null && !isEmptyAdjustment(answer.adjust)) {
          throw new FailedPreconditionError(`NRI plugin ${plugin} asked to adjust container ${container.id}; crion cannot apply NRI adjustments`);
        }
        if (answer.update.length > 0 || answer.evict.length > 0) {
          throw new FailedPreconditionError(`NRI plugin ${plugin} asked to update or evict other containers; crion cannot apply that`);
        }
      }
      return commit();
    });
  }

  async startContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void> {
    await this.dispatch(NriEvent.START_CONTAINER, 'StartContainer', { pod: nriPod(pod), container: nriContainer(container) }, false);
  }

  /** Once per container, on a StopContainer or an exit, whichever comes first. */
  stopContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void> {
    const told = this.stoppedContainers.get(container.id);
    if (told) return told;
    const telling = this.dispatch(NriEvent.STOP_CONTAINER, 'StopContainer', { pod: nriPod(pod), container: nriContainer(container) }, false).then(
      (answers) => {
        // The stop has happened and cannot fail now; the plugin is told, through the log, that its updates were not made.
        for (const { plugin, payload } of answers) {
          const { update } = decode<{ update: unknown[] }>('StopContainerResponse', payload);
          if (update.length > 0) {
            this.deps.log.warn(
              { nriPlugin: plugin, containerId: container.id, updates: update.length },
              'crion cannot apply container updates from NRI plugins; not applied',
            );
          }
        }
      },
    );
    this.stoppedContainers.set(container.id, telling);
    return telling;
  }

  async removeContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void> {
    await this.stopContainer(pod, container);
    this.stoppedContainers.delete(container.id);
    await this.dispatch(NriEvent.REMOVE_CONTAINER, 'RemoveContainer', { pod: nriPod(pod), container: nriContainer(container) }, false);
  }

  /**
   * The event to each subscribed plugin in index order, one after the other. A plugin that times out or
   * whose connection ends is dropped and the event goes on; a plugin's error fails a `fatal` event.
   */
  private async dispatch(event: NriEvent, method: string, request: object, fatal: boolean): Promise<Array<{ plugin: string; payload: Buffer }>> {
    const answers: Array<{ plugin: string; payload: Buffer }> = [];
    const payload = encode(`${method}Request`, request);
    for (const plugin of this.plugins) {
      if ((plugin.events & (1 << (event - 1))) === 0) continue;
      const name = `${plugin.index}-${plugin.name}`;
      try {
        answers.push({ plugin: name, payload: await plugin.client.call(PLUGIN_SERVICE, method, payload, REQUEST_TIMEOUT_MS) });
      } catch (error) {
        // containerd's fatal errors: no answer in time, or no connection. The plugin goes; the event does not fail.
        if (
          !(error instanceof TtrpcError) ||
          error.code === CODE_DEADLINE_EXCEEDED ||
          error.code === CODE_UNAVAILABLE ||
          !this.plugins.includes(plugin)
        ) {
          this.deps.log.error({ err: error, nriPlugin: name, event: method }, 'NRI plugin failed to answer; dropped');
          plugin.close();
          this.drop(plugin.client);
          continue;
        }
        if (fatal) throw new PluginRefusedError(`NRI plugin ${name} failed ${method}: ${error.message}`);
        this.deps.log.warn({ err: error, nriPlugin: name, event: method }, 'NRI plugin failed an event');
      }
    }
    return answers;
  }
}

/** Whether something accepts connections on the unix socket at `socketPath`. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function byIndex(a: Plugin, b: Plugin): number {
  return a.index === b.index ? a.name.localeCompare(b.name) : a.index.localeCompare(b.index);
}

/** protobufjs decodes an absent adjustment's fields as empty maps and lists. */
function isEmptyAdjustment(adjust: Record<string, unknown>): boolean {
  return Object.values(adjust).every(
    (value) =>
      value === null ||
      value === undefined ||
      value === '' ||
      value === 0 ||
      (Array.isArray(value) && value.length === 0) ||
      (typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value) && isEmptyAdjustment(value as Record<string, unknown>)),
  );
}

function timeout<T>(work: Promise<T>, ended: Promise<void>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    ended.then(() => Promise.reject(new Error(`${what}: the connection closed`))),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
