import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { FailedPreconditionError } from '../errors.js';

const run = promisify(execFile);

/**
 * One OCI runtime handler (runc, crun, runsc) driven through its CLI, the
 * interface all three share. The monitor runs `create`; the daemon runs
 * everything after it.
 */
export interface OciRuntimeHandler {
  readonly name: string;
  readonly binary: string;
  readonly root: string;
  readonly extraArgs: readonly string[];
}

export class OciRuntime {
  constructor(readonly handler: OciRuntimeHandler) {}

  /** `globalArgs` go before the subcommand, beside the handler's own. */
  private argv(args: readonly string[], globalArgs: readonly string[] = []): string[] {
    return ['--root', this.handler.root, ...this.handler.extraArgs, ...globalArgs, ...args];
  }

  private async invoke(args: readonly string[], what: string, globalArgs: readonly string[] = []): Promise<string> {
    try {
      const { stdout } = await run(this.handler.binary, this.argv(args, globalArgs), {
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
      throw new RuntimeCommandError(`${this.handler.name} ${what} failed: ${stderr || (error as Error).message}`, stderr, {
        cause: error,
      });
    }
  }

  start(id: string): Promise<string> {
    return this.invoke(['start', id], `start ${id}`);
  }

  /** `all` signals every process of the container, which a stop after a failed init needs. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.invoke(['kill', '--all', id, signal], `kill ${id} ${signal}`);
    } catch (error) {
      // Already stopped or gone: the signal has nothing left to do.
      if (error instanceof RuntimeCommandError && /not running|does not exist|container not found/.test(error.stderr)) return;
      throw error;
    }
  }

  /** Forced and idempotent: removing what is not there succeeds. */
  async delete(id: string): Promise<void> {
    try {
      await this.invoke(['delete', '--force', id], `delete ${id}`);
    } catch (error) {
      if (error instanceof RuntimeCommandError && /does not exist|container not found/.test(error.stderr)) return;
      throw error;
    }
  }

  /** The runtime's view of the container: `created`, `running`, `paused` or `stopped`; null when it has no such container. */
  async status(id: string): Promise<string | null> {
    try {
      const state = JSON.parse(await this.invoke(['state', id], `state ${id}`)) as { status?: unknown };
      return typeof state.status === 'string' ? state.status : null;
    } catch (error) {
      if (error instanceof RuntimeCommandError && /does not exist|container not found/.test(error.stderr)) return null;
      throw error;
    }
  }

  /**
   * Runs `command` in the running container; `pidFile` gets the command's host PID. Its stdout and stderr are piped,
   * and stdin too when asked. With a terminal (the slave of a pty) the runtime makes a pty in the container and
   * relays it to its own stdio, the given terminal.
   */
  exec(id: string, command: readonly string[], pidFile: string, io: ExecIo = {}): ChildProcess {
    const args = this.argv(['exec', '--pid-file', pidFile, ...(io.terminal === undefined ? [] : ['--tty']), id, ...command]);
    if (io.terminal !== undefined) return spawn(this.handler.binary, args, { stdio: [io.terminal, io.terminal, io.terminal] });
    return spawn(this.handler.binary, args, { stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  }

  /**
   * CRIU's images of the running container into `imageDir`, its log into `workDir`. The container keeps running (or
   * stays paused, when it was). `criu` is the CRIU binary; the runtime's `--criu`.
   */
  async checkpoint(id: string, request: { readonly criu: string; readonly imageDir: string; readonly workDir: string }): Promise<void> {
    await this.invoke(['checkpoint', '--leave-running', '--image-path', request.imageDir, '--work-path', request.workDir, id], `checkpoint ${id}`, [
      '--criu',
      request.criu,
    ]);
  }

  /** Freezes every process of the container (its cgroup), so several containers can be captured at one instant. */
  async pause(id: string): Promise<void> {
    await this.invoke(['pause', id], `pause ${id}`);
  }

  async resume(id: string): Promise<void> {
    await this.invoke(['resume', id], `resume ${id}`);
  }

  /** `resourcesFile` holds the OCI linux.resources object to apply to the running container's cgroup. */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.invoke(['update', '--resources', resourcesFile, id], `update ${id}`);
  }
}

export interface ExecIo {
  readonly stdin?: boolean;
  /** A pty slave's descriptor: the runtime's stdio, and the command's terminal. */
  readonly terminal?: number;
}

/**
 * What the runtime printed is the useful part of the message; the operator
 * sees it as is. The runtime was reached and refused: the request or the
 * container's state is at fault, so clients must not retry it as a
 * connection problem.
 */
export class RuntimeCommandError extends FailedPreconditionError {
  constructor(
    message: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the container lifecycle asks of a runtime handler; the unit tests fake it. */
export type ContainerRuntime = Pick<
  OciRuntime,
  'handler' | 'start' | 'kill' | 'delete' | 'status' | 'update' | 'exec' | 'checkpoint' | 'pause' | 'resume'
>;
