import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMON_NODE_FLAGS } from '../../src/service/daemon-node-flags.js';
import { criuPath } from './criu.js';
import { crionBin, repoRoot } from './repo.js';
import { claimTestNetwork, releaseTestNetwork, type TestNetwork } from './test-network.js';

/** One pino line from the daemon's stderr. */
export interface LogLine {
  level?: string;
  time?: number | string;
  msg?: string;
  [key: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The part of ava's ExecutionContext the helpers need, so hooks and tests both fit. */
export interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

export interface DaemonOptions {
  /** Contents of crion.conf. It always exists (empty by default) so the host's /etc/crion is never read. */
  config?: string;
  /** Files written into crion.conf.d, by name. */
  configDirFiles?: Record<string, string>;
  /** Defaults to <dir>/crion.sock. */
  socketPath?: string;
  /** Passed as --log-level; null leaves the level to the config files (a flag would override them). */
  logLevel?: string | null;
  /** Appended after the standard arguments. */
  args?: string[];
  readyTimeoutMs?: number;
  /**
   * Also wait for the "serving CRI" line (default true). The socket can accept
   * before the daemon has installed its signal handlers, and a signal sent in
   * that window kills it outright; false for runs that do not log JSON.
   */
  waitForServingLog?: boolean;
  /**
   * Leave the default network at its built-in bridge and subnet (crion0,
   * 10.88.0.0/16), as the README's first command gets on a fresh node,
   * instead of a bridge and subnet of the daemon's own. One test only.
   */
  builtinNetwork?: boolean;
  /** What runs the daemon; the checkout's bin/crion.js by default. */
  launcher?: Launcher;
}

/** A crion command line (the daemon's arguments follow it), with the environment and directory it runs in. */
export interface Launcher {
  readonly command: readonly [string, ...string[]];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** The checkout's daemon, run with the V8 flags the systemd unit gives it. */
const CHECKOUT: Launcher = { command: [process.execPath, ...DAEMON_NODE_FLAGS, crionBin] };

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 15_000;

/** Every daemon not yet reaped, so a crashing test process cannot leave one behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Daemon {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  private out = '';
  private err = '';
  private exitStatus: ExitStatus | null = null;
  /** The bridge and subnet of the default network this daemon writes; null when the test brings its own network config. */
  network: TestNetwork | null = null;

  constructor(
    /** Temp dir holding this daemon's config, root, state and (by default) socket. */
    readonly dir: string,
    readonly socketPath: string,
    readonly configPath: string,
    readonly configDir: string,
    readonly args: readonly string[],
    readonly launcher: Launcher = CHECKOUT,
  ) {
    const [command, ...prefix] = launcher.command;
    this.child = spawn(command, [...prefix, 'daemon', ...args], {
      cwd: launcher.cwd ?? repoRoot,
      env: launcher.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        live.delete(this.child);
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
  }

  get endpoint(): string {
    return `unix://${this.socketPath}`;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  /** stderr lines that parse as JSON objects, in order. */
  logs(): LogLine[] {
    return this.err.split('\n').flatMap((line) => {
      const parsed = parseJsonObject(line);
      return parsed ? [parsed] : [];
    });
  }

  /** Non-empty stderr lines that are not JSON objects (they should not exist in JSON log format). */
  nonJsonLines(): string[] {
    return this.err.split('\n').filter((line) => line.trim() !== '' && parseJsonObject(line) === null);
  }

  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000, what = 'matching log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs().find(predicate);
      if (found) return found;
      if (!this.running) throw this.failure(`daemon exited (${describe(this.exitStatus!)}) before logging a ${what}`);
      if (Date.now() > deadline) throw this.failure(`no ${what} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Resolves once the socket accepts connections; a stale socket file refuses them, so it is not mistaken for readiness. */
  async waitReady(timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw this.failure(`daemon exited (${describe(this.exitStatus!)}) before serving ${this.socketPath}`);
      if (await canConnect(this.socketPath)) return;
      if (Date.now() > deadline) throw this.failure(`daemon did not serve ${this.socketPath} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async waitExit(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<ExitStatus> {
    const timeout = sleep(timeoutMs).then(() => null);
    const status = await Promise.race([this.exited, timeout]);
    if (status === null) throw this.failure(`daemon still running after ${timeoutMs} ms`);
    return status;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.running) throw this.failure(`cannot send ${signal}: daemon already exited (${describe(this.exitStatus!)})`);
    this.child.kill(signal);
  }

  /** Graceful shutdown: SIGTERM, then the exit code (null if a signal killed it). */
  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    try {
      return (await this.waitExit(timeoutMs)).code;
    } catch (error) {
      this.child.kill('SIGKILL');
      await this.exited;
      throw error;
    }
  }

  /**
   * Stops this daemon with `signal` and starts another on the same directory,
   * socket, network and arguments, as a node's service manager would; the new
   * one owns the directory from then on. `whileDown` runs between the two.
   */
  async restart(signal: 'SIGTERM' | 'SIGKILL', whileDown?: () => Promise<void>): Promise<Daemon> {
    this.signal(signal);
    await this.waitExit();
    await whileDown?.();
    const next = new Daemon(this.dir, this.socketPath, this.configPath, this.configDir, this.args, this.launcher);
    next.network = this.network;
    await waitStarted(next, {});
    return next;
  }

  /** Leaves nothing behind whatever state the test left the daemon in. */
  async dispose(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    // Containers and pods outlive their daemon by design: delete what it left in runc, end its pod inits, then its mounts.
    await deleteContainersBelow(this.dir);
    killPodInitsBelow(this.dir);
    await unmountBelow(this.dir);
    if (this.network !== null) await releaseTestNetwork(this.network);
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** An error carrying the daemon's output, since that is where the cause is. */
  failure(message: string): Error {
    return new Error(`${message}\n--- crion stderr ---\n${this.err}--- crion stdout ---\n${this.out}`);
  }
}

/** Starts a daemon without waiting for it; for runs expected to fail, or to be checked while starting. */
export async function spawnDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-'));
  const socketPath = options.socketPath ?? path.join(dir, 'crion.sock');
  const configPath = path.join(dir, 'crion.conf');
  const configDir = path.join(dir, 'crion.conf.d');
  await writeFile(configPath, options.config ?? '');
  await mkdir(configDir);
  for (const [name, content] of Object.entries(options.configDirFiles ?? {})) {
    await writeFile(path.join(configDir, name), content);
  }
  // The daemon's crictl config, so a host /etc/crictl.yaml (debug output, timeouts) cannot leak into results.
  await writeFile(path.join(dir, 'crictl.yaml'), `runtime-endpoint: unix://${socketPath}\nimage-endpoint: unix://${socketPath}\n`);
  const logLevel = options.logLevel === undefined ? 'debug' : options.logLevel;
  const network = bringsOwnNetwork(options) ? null : await claimTestNetwork();
  const args = [
    '--listen',
    `unix://${socketPath}`,
    '--root',
    path.join(dir, 'root'),
    '--state',
    path.join(dir, 'state'),
    '--config',
    configPath,
    '--config-dir',
    configDir,
    ...(logLevel === null ? [] : ['--log-level', logLevel]),
    // The daemon's own CNI dir, so networks on the host (or another test's) never reach its pods.
    ...(options.args?.includes('--network-cni-config-dir') ? [] : ['--network-cni-config-dir', path.join(dir, 'cni')]),
    ...(network === null ? [] : ['--network-default-bridge', network.bridge, '--network-default-subnet', network.subnet]),
    // The CRIU scripts/criu.sh builds, unless the test picks one: Debian 12's own cannot checkpoint on current kernels.
    ...(choosesCriu(options) ? [] : ['--runtime-criu-path', criuPath]),
    ...(options.args ?? []),
  ];
  const daemon = new Daemon(dir, socketPath, configPath, configDir, args, options.launcher);
  daemon.network = network;
  return daemon;
}

/**
 * Whether the test configures the pod network itself (or reuses another
 * daemon's dirs); otherwise the daemon writes its default network on a bridge
 * and subnet of its own, as on a fresh node.
 */
function bringsOwnNetwork(options: DaemonOptions): boolean {
  if (options.builtinNetwork) return true;
  const files = [options.config ?? '', ...Object.values(options.configDirFiles ?? {})];
  const args = options.args ?? [];
  return (
    files.some((file) => /^\s*(default_subnet|default_bridge|cni_config_dir)\s*=/m.test(file)) ||
    args.some((arg) => ['--network-cni-config-dir', '--network-default-subnet', '--network-default-bridge'].includes(arg))
  );
}

function choosesCriu(options: DaemonOptions): boolean {
  const files = [options.config ?? '', ...Object.values(options.configDirFiles ?? {})];
  return files.some((file) => /^\s*criu_path\s*=/m.test(file)) || (options.args ?? []).includes('--runtime-criu-path');
}

/** Starts a daemon and waits until its socket accepts connections; the test's teardown disposes of it. */
export async function startDaemon(t: Teardown, options: DaemonOptions = {}): Promise<Daemon> {
  const daemon = await spawnDaemon(options);
  t.teardown(() => daemon.dispose());
  await waitStarted(daemon, options);
  return daemon;
}

/**
 * For a daemon shared by the tests of one file: ava runs a hook's teardown as soon as
 * the hook ends, so the caller disposes of it in `test.after.always` instead.
 */
export async function startSharedDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const daemon = await spawnDaemon(options);
  try {
    await waitStarted(daemon, options);
  } catch (error) {
    await daemon.dispose();
    throw error;
  }
  return daemon;
}

async function waitStarted(daemon: Daemon, options: DaemonOptions): Promise<void> {
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  await daemon.waitReady(timeoutMs);
  if (options.waitForServingLog ?? true) {
    await daemon.waitForLog((line) => line.msg === 'serving CRI', timeoutMs, '"serving CRI" line');
  }
}

export function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function parseJsonObject(line: string): LogLine | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogLine) : null;
  } catch {
    return null;
  }
}

function describe(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : `code ${status.code}`;
}

/** Unmounts everything mounted at or below `dir`, deepest first. */
export async function unmountBelow(dir: string): Promise<void> {
  const targets = mountTargetsBelow(dir).sort((a, b) => b.length - a.length);
  for (const target of targets) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', target], () => resolve()));
  }
}

/** SIGKILL to the pod inits pinned below `dir`, which takes their namespaces down with them. */
export function killPodInitsBelow(dir: string): void {
  for (const pid of podInitPidsBelow(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

/**
 * The pod inits whose PID namespaces are pinned below `dir` (`ns/pid`): each is PID 1 of its namespace, so its
 * SIGKILL takes the namespace's other processes with it. They outlive their daemon by design. Synchronous, for the
 * benchmarks' exit handler too.
 */
export function podInitPidsBelow(dir: string): number[] {
  const pins = mountTargetsBelow(dir).filter((target) => target.endsWith('/ns/pid'));
  const namespaces = new Set(pins.map((pin) => inodeOf(statSync(pin))));
  if (namespaces.size === 0) return [];
  return readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      if (!namespaces.has(inodeOf(statSync(`/proc/${entry}/ns/pid`)))) return [];
      const namespacePids = /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/);
      return namespacePids?.at(-1) === '1' ? [Number(entry)] : [];
    } catch {
      return [];
    }
  });
}

function inodeOf(stats: { dev: number; ino: number }): string {
  return `${stats.dev}:${stats.ino}`;
}

function mountTargetsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((target): target is string => target !== undefined && (target === dir || target.startsWith(`${dir}/`)));
}

/**
 * The runc containers (default root) whose bundle lies below `dir`. runc
 * lists every container under its root, also other daemons' that are being
 * created or deleted at that moment, and a state it cannot read fails the
 * whole listing: retried, and never taken for an empty list.
 */
export async function listRuncContainersBelow(dir: string, runcRoot = '/run/runc'): Promise<Array<{ id: string; bundle: string; status: string }>> {
  let listed = await runRuncList(runcRoot);
  for (let attempt = 1; listed.code !== 0 && attempt < 10; attempt++) {
    await sleep(100);
    listed = await runRuncList(runcRoot);
  }
  if (listed.code !== 0) throw new Error(`runc list failed: ${listed.stderr}`);
  const containers = (JSON.parse(listed.stdout.trim() || 'null') as Array<{ id: string; bundle: string; status: string }> | null) ?? [];
  return containers.filter((container) => container.bundle.startsWith(`${dir}/`));
}

function runRuncList(runcRoot: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('runc', ['--root', runcRoot, 'list', '-f', 'json'], (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr })),
  );
}

/** `runc delete -f` of every container whose bundle lies below `dir`; their monitors then exit on their own. */
export async function deleteContainersBelow(dir: string, runcRoot = '/run/runc'): Promise<void> {
  for (const container of await listRuncContainersBelow(dir, runcRoot)) {
    await new Promise<void>((resolve) => execFile('runc', ['--root', runcRoot, 'delete', '-f', container.id], () => resolve()));
  }
}
