import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Containerd } from './containerd.js';
import { Crictl } from './cri-tools.js';
import { deleteContainersBelow, startSharedDaemon, unmountBelow, type Daemon } from './daemon.js';
import type { ImageSource } from './image-source.js';
import { Kubelet } from './kubelet.js';
import type { RunResult } from './process.js';
import { claimTestNetwork, releaseTestNetwork } from './test-network.js';

/**
 * A node as the kubelet e2e sees it: a real kubelet on a container runtime,
 * crion or (as the control) Debian's containerd, both pulling from the
 * file's loopback registry and joining pods to a CNI bridge of their own. The
 * same scenarios run on both, so a failure that containerd shares is the
 * harness's and one it does not is crion's.
 */

export type RuntimeName = 'crion' | 'containerd';

export interface NodeRuntime {
  readonly name: RuntimeName;
  readonly endpoint: string;
  /** Holds the runtime's root and state (and nothing else's). */
  readonly dir: string;
  /** PIDs of the runtime's daemon process, which snapshots leave out. */
  readonly daemonPids: readonly number[];
  /** The CNI bridge its pods join. */
  readonly bridge: string;
  /** runc's state dir for its containers. */
  readonly runcRoot: string;
  /** Where a container lands without a cgroup_parent (the kubelet sends none without cgroupsPerQOS). */
  readonly defaultCgroupParent: string;
  /** stderr of crion, containerd's output: where a failure's cause is. */
  output(): string;
  /** Kills the daemon with `signal` and starts it again on the same state, as a service manager does. */
  restart(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  dispose(): Promise<void>;
}

export interface NodeOptions {
  readonly crionLogLevel?: string;
  readonly featureGates?: Readonly<Record<string, boolean>>;
  readonly kubeletVerbosity?: number;
}

export class KubeletNode {
  private constructor(
    readonly runtime: NodeRuntime,
    readonly kubelet: Kubelet,
    readonly crictl: Crictl,
    readonly dir: string,
  ) {}

  /**
   * `crionLogLevel`: debug for the tests, which read what crion logs; a benchmark runs it at the default, info.
   * `featureGates` join the harness's own; `kubeletVerbosity` is the kubelet's --v.
   */
  static async start(
    name: RuntimeName,
    source: ImageSource,
    { crionLogLevel = 'debug', featureGates = {}, kubeletVerbosity = 2 }: NodeOptions = {},
  ): Promise<KubeletNode> {
    const dir = await mkdtemp(path.join(tmpdir(), `crion-kubelet-${name}-`));
    const crictl = await Crictl.find(dir);
    const runtime = name === 'crion' ? await startCrion(source, crionLogLevel) : await startContainerd(dir, source, crictl);
    try {
      const kubelet = await Kubelet.start(path.join(dir, 'kubelet'), {
        runtimeEndpoint: runtime.endpoint,
        cgroupDriver: 'cgroupfs',
        nodeName: `${name}-node`,
        config: {
          // Small enough that a chatty container rotates within seconds.
          containerLogMaxSize: '8Ki',
          containerLogMaxFiles: 3,
          containerLogMonitorInterval: '3s',
          // The kubelet lists through the Stream* RPCs (KEP-5825); on a runtime that answers UNIMPLEMENTED it falls back to the List ones.
          featureGates: { CRIListStreaming: true, ...featureGates },
        },
        verbosity: kubeletVerbosity,
      });
      return new KubeletNode(runtime, kubelet, crictl, dir);
    } catch (error) {
      await runtime.dispose();
      throw error;
    }
  }

  /**
   * Pulls the busybox and pause images through the runtime, as on a node that has run pods before: a runtime
   * opens some of its stores on the first pull, and a first pod would otherwise pay for that.
   */
  async pullImages(source: ImageSource): Promise<void> {
    for (const reference of [source.images.busybox.reference, `${source.registry.host}/pause:3.10`]) {
      const pulled = await this.run(['pull', reference]);
      if (pulled.code !== 0) throw new Error(`${this.runtime.name}: crictl pull ${reference}: ${pulled.stderr}`);
    }
  }

  /** crictl against the node's runtime; never throws on a non-zero exit. */
  run(args: readonly string[]): Promise<RunResult> {
    return this.crictl.run(this.runtime.endpoint, args);
  }

  async json<T>(args: readonly string[]): Promise<T> {
    const [subcommand, ...rest] = args;
    const result = await this.run([subcommand!, '-o', 'json', ...rest]);
    if (result.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  /** The runtime's containers of a kubelet pod (its full name, `<manifest>-<node>`), oldest attempt first. */
  async containersOf(podName: string): Promise<CriContainer[]> {
    const { containers } = await this.json<{ containers: CriContainer[] }>(['ps', '-a', '--label', `io.kubernetes.pod.name=${podName}`]);
    return containers.sort((a, b) => a.metadata.attempt - b.metadata.attempt || Number(a.createdAt) - Number(b.createdAt));
  }

  async sandboxesOf(podName: string): Promise<Array<{ id: string; state: string }>> {
    return (await this.json<{ items: Array<{ id: string; state: string }> }>(['pods', '--label', `io.kubernetes.pod.name=${podName}`])).items;
  }

  /** Everything the kubelet left running is removed before the runtime goes. */
  async dispose(): Promise<void> {
    await this.kubelet.stop();
    await this.run(['rmp', '--all', '--force']);
    await this.runtime.dispose();
    await unmountBelow(this.dir);
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** A container as `crictl ps -o json` prints it. */
export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  state: string;
  createdAt: string;
  labels: Record<string, string>;
}

async function startCrion(source: ImageSource, logLevel: string): Promise<NodeRuntime> {
  let daemon: Daemon = await startSharedDaemon({ config: source.daemonConfig(), logLevel });
  return {
    name: 'crion',
    endpoint: daemon.endpoint,
    dir: daemon.dir,
    get daemonPids() {
      return daemon.running ? [daemon.child.pid!] : [];
    },
    bridge: daemon.network!.bridge,
    runcRoot: '/run/runc',
    defaultCgroupParent: '/crion',
    output: () => daemon.stderr,
    restart: async (signal) => {
      daemon = await daemon.restart(signal);
    },
    dispose: () => daemon.dispose(),
  };
}

async function startContainerd(parent: string, source: ImageSource, crictl: Crictl): Promise<NodeRuntime> {
  const network = await claimTestNetwork();
  let containerd: Containerd;
  try {
    containerd = await Containerd.start(parent, source.registry.host, crictl, {
      mirroredHosts: [],
      sandboxImage: `${source.registry.host}/pause:3.10`,
      network,
    });
  } catch (error) {
    await releaseTestNetwork(network);
    throw error;
  }
  return {
    name: 'containerd',
    endpoint: containerd.endpoint,
    dir: containerd.dir,
    get daemonPids() {
      return [containerd.pid];
    },
    bridge: network.bridge,
    get runcRoot() {
      return containerd.runcRoot;
    },
    defaultCgroupParent: '/k8s.io',
    output: () => containerd.output,
    restart: async (signal) => {
      containerd = await containerd.restart(signal, crictl);
    },
    dispose: async () => {
      await containerd.stop();
      // The shims outlive containerd; deleting their runc containers ends them.
      await deleteContainersBelow(containerd.dir, containerd.runcRoot);
      await releaseTestNetwork(network);
    },
  };
}
