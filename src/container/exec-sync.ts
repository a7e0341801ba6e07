import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineExceededError, FailedPreconditionError } from '../errors.js';
import type { ContainerHost } from './container-host.js';
import type { ContainerRuntime } from './oci-runtime.js';

export interface ExecResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

/**
 * CRI caps an ExecSync response at 16 MiB, and the kubelet and crictl
 * receive no larger message: stdout and stderr together, with room left
 * for the response's own framing, must fit in it.
 */
export const EXEC_RESPONSE_LIMIT = 16 * 1024 * 1024;
const FRAMING_BYTES = 64;
const OUTPUT_BUDGET = EXEC_RESPONSE_LIMIT - FRAMING_BYTES;

/**
 * Keeps the first `limit` bytes of a stream and drops the rest while still
 * reading it, so a command that writes more than CRI returns runs to its
 * end instead of blocking on a full pipe.
 */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    if (this.kept >= this.limit) return;
    const part = chunk.length > this.limit - this.kept ? chunk.subarray(0, this.limit - this.kept) : chunk;
    this.chunks.push(part);
    this.kept += part.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/**
 * Shares the response's budget: what fits goes whole; past that, stderr
 * keeps at least half (where the reason for a failure usually is) and
 * stdout the rest, each cut at its end.
 */
export function fitOutput(stdout: Buffer, stderr: Buffer, budget = OUTPUT_BUDGET): { stdout: Buffer; stderr: Buffer } {
  if (stdout.length + stderr.length <= budget) return { stdout, stderr };
  const stderrKept = Math.min(stderr.length, Math.max(Math.floor(budget / 2), budget - stdout.length));
  return { stdout: stdout.subarray(0, budget - stderrKept), stderr: stderr.subarray(0, stderrKept) };
}

/**
 * ExecSync: runs `command` in a running container through its OCI runtime
 * and collects its output, capped as CRI says. DEADLINE_EXCEEDED when
 * `timeoutSeconds` (0: none) passes, answered only once the command is gone.
 */
export async function execSync(
  runtime: ContainerRuntime,
  host: Pick<ContainerHost, 'killProcess'>,
  containerId: string,
  command: readonly string[],
  timeoutSeconds: number,
  runtimeDir: string,
): Promise<ExecResult> {
  const pidFile = path.join(runtimeDir, `exec-${randomBytes(6).toString('hex')}.pid`);
  const child = runtime.exec(containerId, command, pidFile);
  const stdout = new CappedOutput(OUTPUT_BUDGET);
  const stderr = new CappedOutput(OUTPUT_BUDGET);
  child.stdout?.on('data', (chunk: Buffer) => stdout.add(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.add(chunk));
  let timedOut = false;
  const timer =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          // Killing runc exec would leave the command running, so the command itself is killed.
          void killExecProcess(pidFile, host).finally(() => child.kill('SIGKILL'));
        }, timeoutSeconds * 1000)
      : undefined;
  try {
    const exit = await exited(child);
    if (timedOut) throw new DeadlineExceededError(`command ${JSON.stringify(command)} timed out after ${timeoutSeconds}s`);
    if (exit.code === null) {
      const reason = stderr.bytes().toString().trim() || exit.error?.message || `${runtime.handler.name} exec was killed by ${exit.signal}`;
      throw new FailedPreconditionError(`exec in ${containerId} failed: ${reason}`);
    }
    return { ...fitOutput(stdout.bytes(), stderr.bytes()), exitCode: exit.code };
  } finally {
    clearTimeout(timer);
    await rm(pidFile, { force: true });
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    // 'close', not 'exit': the output pipes are drained by then.
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * runc writes the pid file once the process exists; under load that can be
 * after the timeout. Returns once the process has exited, not merely been
 * signalled.
 */
export async function killExecProcess(pidFile: string, host: Pick<ContainerHost, 'killProcess'>): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 50) {
    const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
    if (pid > 0) {
      await host.killProcess(pid);
      return;
    }
    await sleep(50);
  }
}
