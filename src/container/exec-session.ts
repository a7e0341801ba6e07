import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Duplex, type Readable } from 'node:stream';
import { FailedPreconditionError } from '../errors.js';
import type { ContainerHost } from './container-host.js';
import type { ContainerRuntime } from './oci-runtime.js';
import { killExecProcess } from './exec-sync.js';

export interface WindowSize {
  readonly rows: number;
  readonly cols: number;
}

/** A command started in a running container for Exec, with its stdio live. */
export interface ExecSession {
  /** Null when the client sent no stdin: the command then reads /dev/null. */
  readonly stdin: Writable | null;
  /** With a terminal, everything the command writes (the pty merges stdout and stderr). */
  readonly stdout: Readable;
  /** Null with a terminal. */
  readonly stderr: Readable | null;
  /** Applied to the pty; a session without a terminal ignores it. */
  resize(size: WindowSize): void;
  /** The command's exit code, once its output has been read to the end. */
  readonly exited: Promise<number>;
  /** Kills the command (the client went away); resolves once it is gone. */
  kill(): Promise<void>;
}

export interface ExecSessionOptions {
  readonly tty: boolean;
  readonly stdin: boolean;
}

/**
 * After the command exits, output it wrote may still be in the pty; a
 * process it left behind may hold the pty open for ever, so the wait is
 * bounded.
 */
const PTY_DRAIN_MS = 2000;

/**
 * Starts `command` in the container through its OCI runtime's exec, which
 * runs it in the container's namespaces and cgroup with the container's
 * user, environment and capabilities. With a terminal the runtime makes a
 * pty inside the container (the command's controlling terminal) and, in
 * the foreground, relays it to its own stdio, which must be a terminal
 * too: a pty the daemon opens. A resize is set on that pty and SIGWINCH
 * tells the runtime to pass it on, as a shell's terminal would.
 */
export async function startExecSession(
  runtime: ContainerRuntime,
  host: Pick<ContainerHost, 'killProcess' | 'openTerminal'>,
  containerId: string,
  command: readonly string[],
  options: ExecSessionOptions,
  runtimeDir: string,
): Promise<ExecSession> {
  const pidFile = path.join(runtimeDir, `exec-${randomBytes(6).toString('hex')}.pid`);
  const killCommand = (child: ChildProcess) => async () => {
    // Killing the runtime alone would leave the command running, so the command itself is killed.
    await killExecProcess(pidFile, host);
    child.kill('SIGKILL');
  };
  if (!options.tty) {
    const child = runtime.exec(containerId, command, pidFile, { stdin: options.stdin });
    const exited = exitCodeOf(child, runtime.handler.name, containerId).finally(() => rm(pidFile, { force: true }));
    return { stdin: child.stdin, stdout: child.stdout!, stderr: child.stderr, resize: () => undefined, exited, kill: killCommand(child) };
  }
  const terminal = host.openTerminal();
  let child: ChildProcess;
  try {
    child = runtime.exec(containerId, command, pidFile, { terminal: terminal.slave });
  } catch (error) {
    terminal.close();
    throw error;
  } finally {
    terminal.releaseSlave();
  }
  const drained = new Promise<void>((resolve) => terminal.stream.once('close', resolve));
  const exited = exitCodeOf(child, runtime.handler.name, containerId)
    .then(async (code) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, PTY_DRAIN_MS)))]);
      clearTimeout(timer);
      return code;
    })
    .finally(() => {
      terminal.close();
      void rm(pidFile, { force: true });
    });
  return {
    stdin: options.stdin ? terminalInput(terminal.stream) : null,
    stdout: terminal.stream,
    stderr: null,
    resize(size) {
      terminal.resize(size);
      child.kill('SIGWINCH');
    },
    exited,
    kill: killCommand(child),
  };
}

/**
 * Input to a terminal. The end of the client's input is typed as EOF (^D)
 * rather than closing the master, which would hang up the whole terminal
 * and lose the output still in it.
 */
function terminalInput(pty: Duplex): Writable {
  return new Writable({
    write: (chunk: Buffer, _encoding, done) => void pty.write(chunk, (error) => done(error ?? null)),
    final: (done) => void pty.write('\x04', () => done()),
  });
}

/** runc exec exits with the command's exit code. */
function exitCodeOf(child: ChildProcess, runtimeName: string, containerId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new FailedPreconditionError(`exec in ${containerId} failed: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code !== null) resolve(code);
      else reject(new FailedPreconditionError(`exec in ${containerId} failed: ${runtimeName} exec was killed by ${signal}`));
    });
  });
}
