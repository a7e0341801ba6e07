import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Daemon } from './daemon.js';
import { run, type RunResult } from './process.js';
import { toolFromEnv } from './repo.js';

/** crictl's global flags that point it at the daemon: its own config file and the daemon's socket for both services. */
export function crictlDaemonFlags(daemon: Daemon): string[] {
  return ['--config', path.join(daemon.dir, 'crictl.yaml'), '--runtime-endpoint', daemon.endpoint, '--image-endpoint', daemon.endpoint];
}

/** Runs the real crictl against the daemon's socket; never throws on a non-zero exit. */
export function crictl(daemon: Daemon, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(toolFromEnv('CRION_CRICTL'), [...crictlDaemonFlags(daemon), '--timeout', '30s', ...args], { timeoutMs });
}

/** Runs crictl and returns its trimmed stdout; a non-zero exit throws with crictl's stderr. */
export async function crictlOk(daemon: Daemon, args: readonly string[]): Promise<string> {
  const result = await crictl(daemon, args);
  if (result.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Runs a crictl command with `-o json` right after the subcommand (crictl
 * stops reading flags at the first positional argument) and parses its output, failing with
 * crictl's own stderr when it exits non-zero or prints something that is not JSON.
 */
export async function crictlJson<T = unknown>(daemon: Daemon, args: readonly string[]): Promise<T> {
  const [subcommand, ...rest] = args;
  const result = await crictl(daemon, [...(subcommand === undefined ? [] : [subcommand]), '-o', 'json', ...rest]);
  if (result.code !== 0) {
    throw new Error(`crictl ${args.join(' ')} exited ${result.code}\nstderr:\n${result.stderr}\nstdout:\n${result.stdout}`);
  }
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    throw new Error(`crictl ${args.join(' ')} printed invalid JSON (${(error as Error).message}):\n${result.stdout}`, { cause: error });
  }
}

/** A running `crictl port-forward`, and the local port it forwards from. */
export interface PortForwardProcess {
  readonly localPort: number;
  readonly child: ChildProcess;
  /** Everything crictl printed so far. */
  output(): string;
}

/**
 * Spawns `crictl port-forward` (`command` and its full `args`) and resolves
 * once it prints the local port it listens on; it runs until killed.
 */
export async function startPortForward(command: string, args: readonly string[]): Promise<PortForwardProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  try {
    const localPort = await new Promise<number>((resolve, reject) => {
      const look = () => {
        const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      child.once('close', () => reject(new Error(`crictl port-forward exited:\n${output}`)));
      setTimeout(() => reject(new Error(`crictl port-forward printed no port:\n${output}`)), 30_000).unref();
    });
    return { localPort, child, output: () => output };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}
