import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { critestRegistriesConf, publishCritestImages } from '../__test__/helpers/critest-images.js';
import { killPodInitsBelow, podInitPidsBelow, startSharedDaemon, type Daemon, type LogLine } from '../__test__/helpers/daemon.js';
import { Registry } from '../__test__/helpers/registry.js';
import { claimTestNetwork, releaseTestNetwork } from '../__test__/helpers/test-network.js';
import { Containerd, containerdVersion } from '../__test__/helpers/containerd.js';
import { Crictl } from '../__test__/helpers/cri-tools.js';
import { unmountUnder } from './mounts.js';
import type { BenchContext } from './report.js';

/**
 * What the pod benchmarks share: the images critest uses, served by a
 * loopback registry under their registry.k8s.io names (crion through a
 * registries.conf mirror, containerd through hosts.toml), either runtime
 * started on an empty root with both images pulled, and pods driven by the
 * same crictl binary. Both runtimes have the same CNI network (crion's
 * default bridge conflist, the plugins in /usr/lib/cni, a bridge and subnet
 * of their own); the crictl pods use the host's network namespace, so
 * neither runs it for them.
 */

export const CONTAINER_IMAGE = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
/** crion's default `image.pause_image`, made containerd's `sandbox_image` too, so both run the same pause. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
const MIRRORED_HOSTS = ['registry.k8s.io'];
const CRICTL_TIMEOUT_MS = 60_000;
/** StopContainer's grace period: well above what SLEEPER takes to leave at SIGTERM, so no stop ends in a SIGKILL. */
export const STOP_GRACE_SECONDS = 10;
/** A shell sleeping that leaves at SIGTERM (as PID 1 it would ignore it otherwise), so stopping measures the runtime, not a grace period. */
export const SLEEPER: readonly string[] = ['sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"];

export type RuntimeName = 'crion' | 'containerd';

export type PidNamespaceMode = 'POD' | 'CONTAINER';
/** NODE: the host's network, no CNI on either runtime; POD: a network namespace of the pod's own on the CNI bridge. */
export type NetworkMode = 'NODE' | 'POD';
/** CRI's NamespaceMode values, as crictl's JSON takes them. */
const NAMESPACE_MODE = { POD: 0, CONTAINER: 1, NODE: 2 } as const;

/** One daemon with pods, whichever runtime it is. */
export interface PodRuntime {
  readonly name: RuntimeName;
  /** `crion`, `containerd 1.6.20`: what the report calls it. */
  readonly label: string;
  readonly endpoint: string;
  readonly daemonPid: number;
  /** The per-container (crion) or per-pod (containerd) processes that keep containers running. */
  helperPids(): number[];
  /** How long the daemon itself took for `rpc` of `pod`, from its own log; null if the log does not say. */
  serverMs(rpc: PodRpc, pod: RunningPod): number | null;
  /** Every `rpc` the daemon has timed itself so far, oldest first; empty where its log does not say (containerd logs no latency). */
  rpcLatenciesMs(rpc: string): number[];
  /** The daemon's log lines with this message, oldest first; empty for containerd, whose log is not JSON. */
  logLines(msg: string): LogLine[];
  failure(message: string): Error;
  /** Removes every pod through the daemon, stops it and deletes whatever it left in runc and the mount table. */
  dispose(): Promise<void>;
}

export interface Timed {
  readonly ms: number;
  readonly stdout: string;
}

export type PodRpc = 'RunPodSandbox' | 'CreateContainer' | 'StartContainer';

export interface RunningPod {
  readonly name: string;
  readonly podId: string;
  readonly containerId: string;
  readonly runpMs: number;
  readonly createMs: number;
  readonly startMs: number;
}

/** Directories whose runc containers and helpers must go even when the run is interrupted. */
const leftovers = new Map<string, { runcRoot: string; helperMarker: string }>();
process.on('exit', () => {
  for (const dir of leftovers.keys()) removeDirSync(dir);
});

/** Deletes what runs from `dir`, its mounts, then the directory; synchronous, so the exit handler can use it too. */
function removeDirSync(dir: string): void {
  const leftover = leftovers.get(dir);
  if (leftover) deleteLeftoversSync(dir, leftover.runcRoot, leftover.helperMarker);
  leftovers.delete(dir);
  // Found through their pins, so before the unmount.
  killPodInitsBelow(dir);
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

export class PodRig {
  private constructor(
    private readonly context: BenchContext,
    readonly crictl: Crictl,
    private readonly registry: Registry,
    private readonly registriesConf: string,
    private readonly podsDir: string,
  ) {}

  static async start(context: BenchContext): Promise<PodRig> {
    const crictl = await Crictl.find(context.workDir);
    const registry = await Registry.start({ auth: 'none' });
    try {
      context.progress("pods: pushing critest's busybox and pause stand-ins to a loopback registry");
      await publishCritestImages(registry);
      const registriesConf = path.join(context.workDir, 'pods-registries.conf');
      await writeFile(registriesConf, critestRegistriesConf(registry));
      const podsDir = path.join(context.workDir, 'pod-configs');
      await mkdir(podsDir, { recursive: true });
      return new PodRig(context, crictl, registry, registriesConf, podsDir);
    } catch (error) {
      await registry.dispose();
      throw error;
    }
  }

  async dispose(): Promise<void> {
    await this.registry.dispose();
  }

  /** `crionLogLevel` debug adds crion's step times (src/log/step-times.ts) to its log. */
  async start(name: RuntimeName, crionLogLevel: 'info' | 'debug' = 'info'): Promise<PodRuntime> {
    const runtime = name === 'crion' ? await this.startCrion(crionLogLevel) : await this.startContainerd();
    try {
      for (const image of [PAUSE_IMAGE, CONTAINER_IMAGE]) await this.timedCrictl(runtime, ['pull', image]);
    } catch (error) {
      await runtime.dispose();
      throw error;
    }
    return runtime;
  }

  /**
   * RunPodSandbox, CreateContainer and StartContainer of pod `name`, each
   * timed as its own crictl process. `pid` is the pod's PID namespace mode:
   * `POD` (shared by the pod, what critest and a config without
   * namespace_options ask for) or `CONTAINER` (what the kubelet sends unless
   * the pod sets shareProcessNamespace). `network` NODE keeps CNI out of the figures.
   */
  async runPod(
    runtime: PodRuntime,
    name: string,
    pid: PidNamespaceMode = 'POD',
    command: readonly string[] = SLEEPER,
    network: NetworkMode = 'NODE',
  ): Promise<RunningPod> {
    const { podConfig, containerConfig } = await this.writeConfigs(name, pid, command, network);
    const runp = await this.timedCrictl(runtime, ['runp', podConfig]);
    const podId = runp.stdout.trim();
    const create = await this.timedCrictl(runtime, ['create', '--no-pull', podId, containerConfig, podConfig]);
    const containerId = create.stdout.trim();
    const start = await this.timedCrictl(runtime, ['start', containerId]);
    return { name, podId, containerId, runpMs: runp.ms, createMs: create.ms, startMs: start.ms };
  }

  /** StopPodSandbox then RemovePodSandbox, timed together. */
  async removePod(runtime: PodRuntime, podId: string): Promise<number> {
    return (await this.timedCrictl(runtime, ['stopp', podId])).ms + (await this.timedCrictl(runtime, ['rmp', podId])).ms;
  }

  /**
   * StopContainer then RemoveContainer, timed together. The stop has a grace period, as the kubelet's, so
   * the stop signal is sent and its exit awaited (SLEEPER leaves at once) rather than a SIGKILL sent at once.
   */
  async removeContainer(runtime: PodRuntime, containerId: string): Promise<number> {
    const stop = await this.timedCrictl(runtime, ['stop', '--timeout', String(STOP_GRACE_SECONDS), containerId]);
    return stop.ms + (await this.timedCrictl(runtime, ['rm', containerId])).ms;
  }

  /**
   * `count` pods of the given PID mode, each with its container started, `concurrency` at a time as the
   * kubelet's pod workers run them; each pod's three calls stay in order. The wall time of the whole.
   */
  async runPods(
    runtime: PodRuntime,
    options: { readonly prefix: string; readonly count: number; readonly concurrency: number; readonly pid: PidNamespaceMode },
  ): Promise<{ readonly ms: number; readonly pods: readonly RunningPod[] }> {
    const pods: RunningPod[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < options.count) {
        const n = ++next;
        pods.push(await this.runPod(runtime, `${options.prefix}-${n}`, options.pid));
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, worker));
    return { ms: performance.now() - started, pods };
  }

  async timedCrictl(runtime: PodRuntime, args: readonly string[]): Promise<Timed> {
    const started = performance.now();
    const result = await this.crictl.run(runtime.endpoint, args, CRICTL_TIMEOUT_MS);
    const ms = performance.now() - started;
    if (result.code !== 0)
      throw runtime.failure(`crictl ${args.join(' ')} against ${runtime.label} exited ${result.code}\n${result.stderr}${result.stdout}`);
    return { ms, stdout: result.stdout };
  }

  /** The container runs `command`, by default SLEEPER. */
  private async writeConfigs(
    name: string,
    pid: PidNamespaceMode,
    command: readonly string[],
    network: NetworkMode,
  ): Promise<{ podConfig: string; containerConfig: string }> {
    const podConfig = path.join(this.podsDir, `${name}.pod.json`);
    const containerConfig = path.join(this.podsDir, `${name}.container.json`);
    const logDirectory = path.join(this.podsDir, 'logs', name);
    await mkdir(logDirectory, { recursive: true });
    const namespaceOptions = { network: NAMESPACE_MODE[network], pid: NAMESPACE_MODE[pid] };
    await writeFile(
      podConfig,
      JSON.stringify({
        metadata: { name, namespace: 'crion-bench', uid: `uid-${name}`, attempt: 0 },
        log_directory: logDirectory,
        linux: { security_context: { namespace_options: namespaceOptions } },
      }),
    );
    await writeFile(
      containerConfig,
      JSON.stringify({
        metadata: { name: 'sleeper' },
        image: { image: CONTAINER_IMAGE },
        command,
        log_path: 'sleeper.log',
        // The kubelet repeats the pod's modes for each container; containerd takes the PID mode from here.
        linux: { security_context: { namespace_options: namespaceOptions } },
      }),
    );
    return { podConfig, containerConfig };
  }

  private async startCrion(logLevel: 'info' | 'debug'): Promise<PodRuntime> {
    // A container's control socket, `<state>/c/<64-hex id>/console.sock`, must fit the 107 bytes of a
    // unix socket address, which a state directory below the run's directory overruns: root and state
    // get a short directory of their own (the last --root and --state win over the helper's).
    const dir = await mkdtemp('/tmp/cb-');
    // crion's containers live in the host's runc root; their bundles lie below its directories.
    leftovers.set(dir, { runcRoot: '/run/runc', helperMarker: `${dir}/` });
    let daemon: Daemon;
    try {
      daemon = await startSharedDaemon({
        // Production runs at info; debug adds the step times, a few lines per call.
        logLevel,
        config: `[image]\nregistries_conf = ${JSON.stringify(this.registriesConf)}\nregistries_conf_dir = "/nonexistent"\n`,
        args: ['--root', path.join(dir, 'r'), '--state', path.join(dir, 's')],
      });
    } catch (error) {
      removeDirSync(dir);
      throw error;
    }
    return {
      name: 'crion',
      label: 'crion',
      endpoint: daemon.endpoint,
      daemonPid: daemon.child.pid!,
      // The pod inits of shared-PID pods are crion's helpers too, though no container's.
      helperPids: () => [...pidsOf('crion-monitor', `${dir}/`), ...podInitPidsBelow(dir)],
      // Pods run one after another, so the last "rpc finished" line of an RPC is this pod's.
      serverMs: (rpc) => {
        const line = daemon.logs().findLast((candidate) => candidate.rpc === rpc && candidate.msg === 'rpc finished');
        return typeof line?.latencyMs === 'number' ? line.latencyMs : null;
      },
      rpcLatenciesMs: (rpc) =>
        daemon
          .logs()
          .flatMap((line) => (line.rpc === rpc && line.msg === 'rpc finished' && typeof line.latencyMs === 'number' ? [line.latencyMs] : [])),
      logLines: (msg) => daemon.logs().filter((line) => line.msg === msg),
      failure: (message) => daemon.failure(message),
      dispose: async () => {
        try {
          if (daemon.running) await this.crictl.run(daemon.endpoint, ['rmp', '--all', '--force'], CRICTL_TIMEOUT_MS);
          await daemon.stop();
        } finally {
          await daemon.dispose();
          removeDirSync(dir);
        }
      },
    };
  }

  private async startContainerd(): Promise<PodRuntime> {
    const version = await containerdVersion();
    // crion's test daemons write their default network on a bridge and subnet of their own; containerd gets the same.
    const network = await claimTestNetwork();
    let containerd: Containerd;
    try {
      containerd = await Containerd.start(this.context.workDir, this.registry.host, this.crictl, {
        mirroredHosts: MIRRORED_HOSTS,
        sandboxImage: PAUSE_IMAGE,
        network,
      });
    } catch (error) {
      await releaseTestNetwork(network);
      throw error;
    }
    // Each shim is told the daemon's socket with -address.
    leftovers.set(containerd.dir, { runcRoot: containerd.runcRoot, helperMarker: containerd.socketPath });
    return {
      name: 'containerd',
      label: `containerd ${version}`,
      endpoint: containerd.endpoint,
      daemonPid: containerd.pid,
      helperPids: () => pidsOf('containerd-shim-runc-v2', containerd.socketPath),
      serverMs: (rpc, pod) => containerdServerMs(containerd.output, rpc, pod),
      rpcLatenciesMs: () => [],
      logLines: () => [],
      failure: (message) => containerd.failure(message),
      dispose: async () => {
        try {
          await this.crictl.run(containerd.endpoint, ['rmp', '--all', '--force'], CRICTL_TIMEOUT_MS);
          await containerd.stop();
        } finally {
          removeDirSync(containerd.dir);
          await releaseTestNetwork(network);
        }
      },
    };
  }
}

/**
 * containerd logs no latency, but its CRI plugin logs each of these calls
 * when it starts and when it returns, at info, naming the pod or container:
 * the difference of the two timestamps.
 */
function containerdServerMs(output: string, rpc: PodRpc, pod: RunningPod): number | null {
  const subject = {
    RunPodSandbox: `RunPodSandbox for &PodSandboxMetadata{Name:${pod.name},`,
    CreateContainer: `CreateContainer within sandbox \\"${pod.podId}\\"`,
    StartContainer: `StartContainer for \\"${pod.containerId}\\"`,
  }[rpc];
  const done = { RunPodSandbox: 'returns sandbox id', CreateContainer: 'returns container id', StartContainer: 'returns successfully' }[rpc];
  const lines = output.split('\n').filter((line) => line.includes(subject));
  const start = lines.find((line) => !line.includes(done));
  const end = lines.find((line) => line.includes(done));
  if (!start || !end) return null;
  return logTimeMs(end) - logTimeMs(start);
}

/** logrus's `time="2026-11-29T12:19:18.188071605Z"`, in ms with the sub-millisecond digits Date drops. */
function logTimeMs(line: string): number {
  const match = /time="([^".]+)(?:\.(\d+))?Z"/.exec(line);
  if (!match) return Number.NaN;
  return Date.parse(`${match[1]}Z`) + Number(`0.${match[2] ?? '0'}`) * 1000;
}

/**
 * Synchronous, for the exit handler: `runc delete -f` of every container of
 * `runcRoot` whose bundle lies below `dir`, then SIGKILL to the helpers
 * (monitors, shims) still naming `helperMarker`, since a shim outlives its
 * containerd and would otherwise wait for it forever.
 */
function deleteLeftoversSync(dir: string, runcRoot: string, helperMarker: string): void {
  let listed: { id: string; bundle: string }[] = [];
  try {
    listed =
      (JSON.parse(
        execFileSync('runc', ['--root', runcRoot, 'list', '-f', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) || 'null',
      ) as typeof listed | null) ?? [];
  } catch {
    // No runc root: nothing was created.
  }
  for (const container of listed.filter((candidate) => candidate.bundle.startsWith(`${dir}/`))) {
    try {
      execFileSync('runc', ['--root', runcRoot, 'delete', '-f', container.id], { stdio: 'ignore' });
    } catch {
      // Gone already.
    }
  }
  for (const pid of [...pidsOf('crion-monitor', helperMarker), ...pidsOf('containerd-shim-runc-v2', helperMarker)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}

/** Processes running `binary` whose command line mentions `marker` (the runtime's directory or socket). */
export function pidsOf(binary: string, marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        return [];
      }
      return path.basename(argv[0] ?? '') === binary && argv.some((arg) => arg.includes(marker)) ? [Number(entry)] : [];
    });
}

export interface ProcessMemory {
  readonly pid: number;
  readonly rssKiB: number;
  readonly rssAnonKiB: number;
  /** Proportional set size: shared pages divided among the processes mapping them. */
  readonly pssKiB: number;
}

export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (text: string, name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (!match) throw new Error(`no ${name} for process ${pid}`);
    return Number(match[1]);
  };
  return { pid, rssKiB: field(status, 'VmRSS'), rssAnonKiB: field(status, 'RssAnon'), pssKiB: field(rollup, 'Pss') };
}

/** USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture crion runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds the whole machine spent busy (all cores, everything but idle and iowait), from /proc/stat. */
export function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS_PER_SECOND;
}

/** utime + stime of a process, whole, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; the fields after its closing one are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}
