import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canConnect } from './daemon.js';
import { run } from './process.js';
import type { TestNetwork } from './test-network.js';
import { DEFAULT_NETWORK_FILE, defaultNetworkConfig } from '../../src/network/default-network.js';
import type { Crictl } from './cri-tools.js';

/**
 * A private containerd for the comparison: Debian's package (1.6, CRI plugin
 * built in) with its own root, state and sockets under one directory, so it
 * neither touches nor sees a host containerd. The registry it pulls from is
 * reached over plain HTTP through a hosts.toml, which is how containerd
 * 1.6 is told a registry is insecure.
 */

export const CONTAINERD_BIN = '/usr/bin/containerd';
/** Debian's containernetworking-plugins, which crion's tests run too. */
const CNI_PLUGIN_DIR = '/usr/lib/cni';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

// Plugins that look for hardware, kernels or paths this host may lack, or that
// export telemetry; none of them takes part in a pull. `opt` would create /opt/containerd.
const DISABLED_PLUGINS = [
  'io.containerd.internal.v1.opt',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

/** Every containerd not yet reaped, so an interrupted benchmark cannot leave one behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function containerdVersion(): Promise<string> {
  try {
    await access(CONTAINERD_BIN, constants.X_OK);
  } catch {
    throw new Error(`${CONTAINERD_BIN} is missing: install Debian's containerd package (scripts/setup.sh does)`);
  }
  const result = await run(CONTAINERD_BIN, ['--version']);
  return result.stdout.trim().split(/\s+/)[2] ?? result.stdout.trim();
}

export class Containerd {
  private log = '';
  private readonly exited: Promise<void>;
  private running = true;

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private readonly configPath: string,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.log += chunk));
    child.on('error', (error) => (this.log += `spawn ${CONTAINERD_BIN}: ${error.message}\n`));
    this.exited = new Promise((resolve) => {
      child.on('close', () => {
        live.delete(child);
        this.running = false;
        resolve();
      });
    });
  }

  /** Starts one in a fresh directory under `parent` and waits until its CRI plugin answers. */
  static async start(parent: string, insecureRegistry: string, crictl: Crictl, pods?: PodSettings): Promise<Containerd> {
    const dir = await mkdtemp(path.join(parent, 'containerd-'));
    const socketPath = path.join(dir, 'containerd.sock');
    const configPath = path.join(dir, 'config.toml');
    await writeFile(configPath, await config(dir, socketPath, insecureRegistry, pods));
    return Containerd.launch(dir, socketPath, configPath, crictl);
  }

  private static async launch(dir: string, socketPath: string, configPath: string, crictl: Crictl): Promise<Containerd> {
    const child = spawn(CONTAINERD_BIN, ['--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const containerd = new Containerd(dir, socketPath, configPath, child);
    try {
      await containerd.waitReady(crictl);
    } catch (error) {
      await containerd.stop();
      throw error;
    }
    return containerd;
  }

  /** Stops it with `signal` (its shims and containers live on) and starts another on the same config. */
  async restart(signal: 'SIGTERM' | 'SIGKILL', crictl: Crictl): Promise<Containerd> {
    this.child.kill(signal);
    await this.exited;
    return Containerd.launch(this.dir, this.socketPath, this.configPath, crictl);
  }

  get endpoint(): string {
    return `unix://${this.socketPath}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** runc's state directory for the CRI plugin's namespace: kept under `dir`, so cleanup never meets the host's containers. */
  get runcRoot(): string {
    return path.join(this.dir, 'runc', 'k8s.io');
  }

  /** Where the overlayfs snapshotter keeps one directory per unpacked layer. */
  get snapshotsDir(): string {
    return path.join(this.dir, 'root', 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** Everything it has logged so far, at its default level (info). */
  get output(): string {
    return this.log;
  }

  failure(message: string): Error {
    return new Error(`${message}\n--- containerd output ---\n${this.log}`);
  }

  /** The socket accepts before the CRI plugin is registered; ImageFsInfo answers only once it is. */
  private async waitReady(crictl: Crictl): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) throw this.failure('containerd exited before serving');
      if (await canConnect(this.socketPath)) {
        const probe = await crictl.run(this.endpoint, ['imagefsinfo'], 10_000);
        if (probe.code === 0) return;
      }
      if (Date.now() > deadline) throw this.failure(`containerd did not serve CRI on ${this.socketPath} within ${READY_TIMEOUT_MS} ms`);
      await sleep(50);
    }
  }
}

/** What running pods needs beyond a pull: upstream registries mirrored to the loopback one, and the pause image. */
export interface PodSettings {
  /** Registry hosts (`registry.k8s.io`) whose images the loopback registry serves under the same paths. */
  readonly mirroredHosts: readonly string[];
  readonly sandboxImage: string;
  /**
   * The bridge and subnet of crion's default network, written as the same
   * conflist crion writes (bridge, host-local, portmap) for containerd's CNI
   * plugin to run with the same plugins; without it, empty CNI directories.
   */
  readonly network?: TestNetwork;
}

async function config(dir: string, socketPath: string, insecureRegistry: string, pods?: PodSettings): Promise<string> {
  const certsDir = path.join(dir, 'certs.d');
  const network = pods?.network;
  const cniBin = network ? CNI_PLUGIN_DIR : path.join(dir, 'cni', 'bin');
  const cniConf = path.join(dir, 'cni', 'net.d');
  for (const directory of network ? [cniConf] : [cniBin, cniConf]) await mkdir(directory, { recursive: true });
  if (network) {
    const options = { configDir: cniConf, bridge: network.bridge, subnet: network.subnet, ipamDataDir: path.join(dir, 'cni', 'networks') };
    await writeFile(path.join(cniConf, DEFAULT_NETWORK_FILE), JSON.stringify(defaultNetworkConfig(options), null, 2));
  }
  // TOML basic strings share JSON's escapes for anything a temp path or a host holds.
  const q = JSON.stringify;
  const registryUrl = `http://${insecureRegistry}`;
  const hostsFiles: [string, string][] = [
    [insecureRegistry, registryUrl],
    ...(pods?.mirroredHosts ?? []).map((host): [string, string] => [host, `https://${host}`]),
  ];
  for (const [host, server] of hostsFiles) {
    await mkdir(path.join(certsDir, host), { recursive: true });
    await writeFile(
      path.join(certsDir, host, 'hosts.toml'),
      [`server = ${q(server)}`, '', `[host.${q(registryUrl)}]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
    );
  }
  return [
    'version = 2',
    `root = ${q(path.join(dir, 'root'))}`,
    `state = ${q(path.join(dir, 'state'))}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map((name) => q(name)).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${q(socketPath)}`,
    '[ttrpc]',
    `  address = ${q(`${socketPath}.ttrpc`)}`,
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    ...(pods ? [`  sandbox_image = ${q(pods.sandboxImage)}`] : []),
    // Pause containers get oom_score_adj -998, which runc cannot set without CAP_SYS_RESOURCE (absent in some
    // sandboxes, where runc create then fails with "can't get final child's PID"): keep scores at or above containerd's own.
    '  restrict_oom_score_adj = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '      runtime_type = "io.containerd.runc.v2"',
    // The shim's default, /run/containerd/runc, is the host's.
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    `        Root = ${q(path.join(dir, 'runc'))}`,
    // Without a network, empty CNI directories: NetworkReady=false, which neither a pull nor a host-network pod needs.
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = ${q(cniBin)}`,
    `    conf_dir = ${q(cniConf)}`,
    '  [plugins."io.containerd.grpc.v1.cri".registry]',
    `    config_path = ${q(certsDir)}`,
    '',
  ].join('\n');
}
