import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { access, constants, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { freePort } from './free-port.js';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './repo.js';

/**
 * A real kubelet in standalone mode (no API server): pods come from manifest
 * files in its static pod directory, and its own HTTPS API on a loopback
 * port (`/pods`, `/stats/summary`) says what it made of them. One at a time
 * per host: its device manager's socket path is fixed
 * (/var/lib/kubelet/device-plugins/kubelet.sock), whatever its root dir.
 */

export interface KubeletOptions {
  /** The CRI socket, `unix:///…`, for both the runtime and the image service. */
  readonly runtimeEndpoint: string;
  /** What the runtime's RuntimeConfig reports; the kubelet must agree. */
  readonly cgroupDriver: 'cgroupfs' | 'systemd';
  /** Static pods are named `<manifest name>-<node name>`. */
  readonly nodeName: string;
  /** KubeletConfiguration fields over the harness's. */
  readonly config?: Record<string, unknown>;
  /** The kubelet's --v; 2 unless a test needs lines it logs only at a higher level. */
  readonly verbosity?: number;
}

/** The parts of a core/v1 Pod the tests read. */
export interface KubePod {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  spec: { containers: Array<{ name: string }> };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    initContainerStatuses?: KubeContainerStatus[];
    containerStatuses?: KubeContainerStatus[];
    reason?: string;
    message?: string;
  };
}

export interface KubeContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  /** With the mode the kubelet resolved recursiveReadOnly to: Disabled or Enabled. */
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; recursiveReadOnly?: string }>;
  state: {
    running?: { startedAt: string };
    waiting?: { reason?: string; message?: string };
    terminated?: { exitCode: number; reason?: string; startedAt?: string; finishedAt?: string };
  };
  lastState?: { terminated?: { exitCode: number; reason?: string } };
  /** The identity the runtime reports the container's first process started with (ContainerStatus.user). */
  user?: { linux?: { uid: number; gid: number; supplementalGroups?: number[] } };
}

/** Every container of the pod reported ready. */
export function allReady(pod: KubePod): boolean {
  const statuses = pod.status.containerStatuses ?? [];
  return statuses.length === pod.spec.containers.length && statuses.every((status) => status.ready);
}

/**
 * A static pod manifest in `namespace`; the manifest's name is the pod's, before the kubelet appends the node's.
 * No cluster DNS in standalone mode, so the node's resolv.conf; a short grace period, so that removal is quick.
 */
export function staticPod(name: string, namespace: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: { dnsPolicy: 'Default', terminationGracePeriodSeconds: 2, ...spec },
  };
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** Every kubelet not yet reaped, so a crashing test process cannot leave one behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** `$CRION_KUBELET`, else the pinned build that scripts/kubelet.sh leaves in its cache. */
export async function kubeletBinary(): Promise<string> {
  const binary = process.env.CRION_KUBELET ?? execFileSync('bash', ['scripts/kubelet.sh', 'path'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  try {
    await access(binary, constants.X_OK);
  } catch {
    throw new Error(`${binary} is missing: build it with \`bash scripts/kubelet.sh\` or set CRION_KUBELET`);
  }
  return binary;
}

export class Kubelet {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Feature gates over the options' ones, set by `restartWithFeatureGates`. */
  private extraFeatureGates: Record<string, boolean> = {};

  private constructor(
    readonly binary: string,
    /** Holds its root dir, config, static pod dir, pod logs and its own log. */
    readonly dir: string,
    readonly port: number,
    readonly options: KubeletOptions,
  ) {}

  /** Starts one in `dir` (made if missing) and waits until its API answers. */
  static async start(dir: string, options: KubeletOptions): Promise<Kubelet> {
    const kubelet = new Kubelet(await kubeletBinary(), dir, await freePort(), options);
    await mkdir(kubelet.manifestsDir, { recursive: true });
    await mkdir(kubelet.podLogsDir, { recursive: true });
    await writeFile(kubelet.configPath, JSON.stringify(kubelet.configuration(), null, 2));
    await kubelet.launch();
    return kubelet;
  }

  get manifestsDir(): string {
    return path.join(this.dir, 'manifests');
  }

  /** podLogsDir: `<ns>_<pod>_<uid>/<container>/<attempt>.log` below it. */
  get podLogsDir(): string {
    return path.join(this.dir, 'pod-logs');
  }

  get rootDir(): string {
    return path.join(this.dir, 'root');
  }

  get configPath(): string {
    return path.join(this.dir, 'kubelet-config.json');
  }

  get logPath(): string {
    return path.join(this.dir, 'kubelet.log');
  }

  /** The KubeletConfiguration this node runs with, which the README's kubelet section follows. */
  configuration(): Record<string, unknown> {
    return {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      containerRuntimeEndpoint: this.options.runtimeEndpoint,
      imageServiceEndpoint: this.options.runtimeEndpoint,
      cgroupDriver: this.options.cgroupDriver,
      staticPodPath: this.manifestsDir,
      // How often the static pod dir is read besides its inotify events (default 20 s).
      fileCheckFrequency: '1s',
      // Standalone, on a cgroup v1 host: no QoS or node-allocatable cgroups of the kubelet's own.
      failCgroupV1: false,
      cgroupsPerQOS: false,
      enforceNodeAllocatable: [],
      failSwapOn: false,
      address: '127.0.0.1',
      port: this.port,
      readOnlyPort: 0,
      healthzPort: 0,
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      podLogsDir: this.podLogsDir,
      // Test images and the host's disk are not the kubelet's to reclaim.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      serializeImagePulls: false,
      // The tests start many pods at once from a loopback registry; the default 5 pulls/s made a crashing pod's first
      // restart an ErrImagePull ("pull QPS exceeded"), which took the back-off step the crash-loop test looks for.
      registryPullQPS: 0,
      registerNode: false,
      ...this.options.config,
      featureGates: { ...(this.options.config?.featureGates ?? {}), ...this.extraFeatureGates },
    };
  }

  private async launch(): Promise<void> {
    const log = openSync(this.logPath, 'a');
    const child = spawn(
      this.binary,
      [
        `--config=${this.configPath}`,
        `--root-dir=${this.rootDir}`,
        `--cert-dir=${path.join(this.dir, 'pki')}`,
        `--hostname-override=${this.options.nodeName}`,
        `--v=${this.options.verbosity ?? 2}`,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.on('close', () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.child !== child) throw await this.failure('the kubelet exited before serving its API');
      if ((await this.request('/healthz').catch(() => null))?.status === 200) return;
      if (Date.now() > deadline) throw await this.failure(`the kubelet did not serve its API within ${READY_TIMEOUT_MS} ms`);
      await sleep(200);
    }
  }

  /** Writes a static pod manifest whole (the kubelet skips dot files, so it never reads a half-written one). */
  async writeManifest(name: string, pod: Record<string, unknown>): Promise<void> {
    const draft = path.join(this.manifestsDir, `.${name}.json`);
    await writeFile(draft, JSON.stringify(pod, null, 2));
    await rename(draft, path.join(this.manifestsDir, `${name}.json`));
  }

  async removeManifest(name: string): Promise<void> {
    await rm(path.join(this.manifestsDir, `${name}.json`));
  }

  /** The pod a manifest became, as `/pods` shows it; null while the kubelet has none. */
  async pod(manifestName: string): Promise<KubePod | null> {
    const name = `${manifestName}-${this.options.nodeName}`;
    return (await this.pods()).find((pod) => pod.metadata.name === name) ?? null;
  }

  async pods(): Promise<KubePod[]> {
    return ((await this.getJson('/pods')) as { items: KubePod[] | null }).items ?? [];
  }

  /** A `wss://` URL on its API, for the streaming endpoints (`/exec/…`, `/attach/…`, `/portForward/…`). */
  streamUrl(pathAndQuery: string): string {
    return `wss://127.0.0.1:${this.port}${pathAndQuery}`;
  }

  async statsSummary(): Promise<StatsSummary> {
    return (await this.getJson('/stats/summary')) as StatsSummary;
  }

  /** Polls the pod until `ready` holds; the last pod seen is in the error. */
  async waitForPod(manifestName: string, ready: (pod: KubePod) => boolean, timeoutMs: number, what: string): Promise<KubePod> {
    const deadline = Date.now() + timeoutMs;
    let last: KubePod | null = null;
    for (;;) {
      last = await this.pod(manifestName).catch(() => last);
      if (last !== null && ready(last)) return last;
      if (Date.now() > deadline) {
        throw await this.failure(
          `pod ${manifestName}: not ${what} within ${timeoutMs} ms; last seen:\n${JSON.stringify(last?.status ?? null, null, 2)}`,
        );
      }
      await sleep(500);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    child.kill('SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(STOP_TIMEOUT_MS, false)]);
    if (!stopped) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** A new kubelet process on the same dir, config and port, as a node's kubelet restarting. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /**
   * Restarts it with `gates` over the feature gates it was started with (an empty object: back to those),
   * for a scenario whose gate is not meant for every other one.
   */
  async restartWithFeatureGates(gates: Record<string, boolean>): Promise<void> {
    this.extraFeatureGates = { ...gates };
    await this.stop();
    await writeFile(this.configPath, JSON.stringify(this.configuration(), null, 2));
    await this.launch();
  }

  /** A GET on its API whose body is not JSON (Prometheus text, …); throws on any status but 200. */
  async text(pathname: string): Promise<string> {
    const response = await this.request(pathname);
    if (response.status !== 200) throw new Error(`GET ${pathname} on the kubelet: ${response.status} ${response.body}`);
    return response.body;
  }

  async log(): Promise<string> {
    return readFile(this.logPath, 'utf8').catch(() => '');
  }

  /** An error carrying the end of the kubelet's log, since that is where the cause is. */
  async failure(message: string): Promise<Error> {
    const lines = (await this.log()).split('\n');
    return new Error(`${message}\n--- last 60 lines of ${this.logPath} ---\n${lines.slice(-60).join('\n')}`);
  }

  private async getJson(pathname: string): Promise<unknown> {
    const response = await this.request(pathname);
    if (response.status !== 200) throw new Error(`GET ${pathname} on the kubelet: ${response.status} ${response.body}`);
    return JSON.parse(response.body);
  }

  /** POST to its API, as `kubectl` and the API server's proxy do for `/checkpoint/…`: the status and body, whatever they are. */
  post(pathname: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
    return this.request(pathname, 'POST', timeoutMs);
  }

  /** Its API is HTTPS with a certificate it made for itself. */
  private request(pathname: string, method = 'GET', timeoutMs = 10_000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const options = { host: '127.0.0.1', port: this.port, path: pathname, method, rejectUnauthorized: false, timeout: timeoutMs };
      const request = https.request(options, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      });
      request.on('timeout', () => request.destroy(new Error(`${method} ${pathname}: no answer within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end();
    });
  }
}

/** The parts of the kubelet's stats summary the tests read. */
export interface StatsSummary {
  pods: Array<{
    podRef: { name: string; namespace: string; uid: string };
    cpu?: { usageNanoCores?: number; usageCoreNanoSeconds?: number };
    memory?: { workingSetBytes?: number; usageBytes?: number };
    containers?: Array<{
      name: string;
      cpu?: { usageNanoCores?: number; usageCoreNanoSeconds?: number };
      memory?: { workingSetBytes?: number; usageBytes?: number };
      rootfs?: { usedBytes?: number; capacityBytes?: number };
      logs?: { usedBytes?: number; capacityBytes?: number };
    }>;
    'ephemeral-storage'?: { usedBytes?: number };
  }>;
}
