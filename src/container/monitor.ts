import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { FailedPreconditionError, UnavailableError } from '../errors.js';

/**
 * The daemon's side of crion-monitor (native/monitor, protocol in its
 * README): start it for CreateContainer and learn the container's pid or
 * the runtime's own error, ask it to reopen the log, read its exit file.
 * The monitor detaches at once, so containers outlive the daemon.
 */

export interface MonitorLaunch {
  readonly binary: string;
  readonly containerId: string;
  readonly bundle: string;
  readonly stateDir: string;
  readonly logPath: string;
  readonly runtime: string;
  readonly runtimeRoot: string;
  readonly terminal: boolean;
  readonly stdin: boolean;
  /** The container's memory cgroup, so the monitor can tell an OOM kill. */
  readonly memoryCgroup: string | null;
  /** Restore the container from CRIU's images with this CRIU binary, instead of creating it. */
  readonly restore: { readonly images: string; readonly criu: string } | null;
}

export interface MonitoredContainer {
  readonly pid: number;
  readonly monitorPid: number;
}

export interface ExitStatus {
  readonly exitCode: number;
  readonly signal: number | null;
  readonly oomKilled: boolean;
  readonly exitedAt: string;
}

interface SyncMessage {
  ok: boolean;
  pid?: number;
  monitorPid?: number;
  code?: string;
  message?: string;
  /** Set when `runtime create` itself failed (code ERR_RUNTIME_CREATE), else null. */
  runtimeExitCode?: number | null;
  /** What the runtime printed, up to 16 KiB; set with runtimeExitCode. */
  runtimeStderr?: string | null;
}

/** The sync line arrives through fd 3 of the monitor, a pipe the daemon reads. */
const SYNC_FD = 3;

export async function launchMonitor(launch: MonitorLaunch): Promise<MonitoredContainer> {
  const args = [
    '--id',
    launch.containerId,
    '--bundle',
    launch.bundle,
    '--state-dir',
    launch.stateDir,
    '--log-path',
    launch.logPath,
    '--runtime',
    launch.runtime,
    '--runtime-root',
    launch.runtimeRoot,
    '--sync-fd',
    String(SYNC_FD),
    ...(launch.terminal ? ['--terminal'] : []),
    ...(launch.stdin ? ['--stdin'] : []),
    ...(launch.memoryCgroup === null ? [] : ['--cgroup-memory', launch.memoryCgroup]),
    ...(launch.restore === null ? [] : ['--restore', launch.restore.images, '--runtime-arg', `--criu=${launch.restore.criu}`]),
  ];
  // The monitor's stderr outlives this call, so it goes to a file in its state directory, never to a pipe.
  const stderr = await open(path.join(launch.stateDir, 'monitor.log'), 'a');
  try {
    const child = spawn(launch.binary, args, { stdio: ['ignore', 'ignore', stderr.fd, 'pipe'] });
    const syncLine = new Promise<string>((resolve, reject) => {
      let text = '';
      const sync = child.stdio[SYNC_FD] as NodeJS.ReadableStream;
      sync.setEncoding('utf8');
      sync.on('data', (chunk: string) => (text += chunk));
      sync.on('end', () => resolve(text));
      sync.on('error', reject);
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    const [line, code] = await Promise.all([syncLine, exited]);
    if (line.trim() === '') {
      const log = await readFile(path.join(launch.stateDir, 'monitor.log'), 'utf8').catch(() => '');
      throw new UnavailableError(`crion-monitor exited with ${code} before reporting: ${log.trim().split('\n').at(-1) ?? ''}`);
    }
    const message = JSON.parse(line) as SyncMessage;
    if (!message.ok || message.pid === undefined || message.monitorPid === undefined) {
      throw new ContainerStartError(failureMessage(launch.runtime, launch.restore === null ? 'create' : 'restore', message));
    }
    return { pid: message.pid, monitorPid: message.monitorPid };
  } finally {
    await stderr.close();
  }
}

/**
 * What the operator reads when a create fails: the runtime's exit code and
 * everything it printed when `runtime create` failed (the monitor's own
 * message quotes only the last line), else the monitor's error.
 */
function failureMessage(runtime: string, action: 'create' | 'restore', message: SyncMessage): string {
  if (message.runtimeExitCode !== undefined && message.runtimeExitCode !== null) {
    const stderr = message.runtimeStderr?.trim() ?? '';
    return `\`${runtime} ${action}\` failed with exit code ${message.runtimeExitCode}: ${stderr === '' ? 'it printed nothing' : stderr}`;
  }
  return message.message ?? `crion-monitor failed (${message.code ?? 'no code'})`;
}

/** The OCI runtime refused to create the container, or the monitor failed before it reported the container. */
export class ContainerStartError extends FailedPreconditionError {}

/** Null while the container runs. */
export async function readExitFile(stateDir: string): Promise<ExitStatus | null> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, 'exit.json'), 'utf8')) as ExitStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Sends one control command and waits for the monitor's `ok`: the command has then taken effect. */
export function monitorCommand(stateDir: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(path.join(stateDir, 'ctl'));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (!answer.includes('\n')) return;
      socket.end();
      const line = answer.split('\n', 1)[0]!;
      if (line === 'ok') resolve();
      else reject(new UnavailableError(`crion-monitor refused "${command}": ${line.replace(/^error /, '')}`));
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? new FailedPreconditionError('the container is not running') : error),
    );
  });
}
