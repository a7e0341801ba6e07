import { closeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import type { Duplex } from 'node:stream';
import { mountOverlay, openPty, pidAlive, setWindowSize, unmountOverlay, watchExit, type OverlayMountRequest } from '../native/index.js';
import { attachMonitor, type MonitorAttachment } from './monitor-attach.js';
import { launchMonitor, monitorCommand, readExitFile, type ExitStatus, type MonitoredContainer, type MonitorLaunch } from './monitor.js';

/**
 * The host side of containers: the rootfs and image volume mounts, the monitor, and the
 * processes the daemon watches, as sandbox-host.ts is for pods. The OCI
 * runtime comes separately, per handler. Everything the container
 * lifecycle does to the machine goes through here, so a fake stands in for
 * it in the unit tests.
 */
export interface ContainerHost {
  /** An overlay of image layers: a container's rootfs, or the read-only view of an image volume. */
  mountRootfs(request: OverlayMountRequest): Promise<void>;
  /** Undoes mountRootfs; nothing mounted there counts as done. */
  unmountRootfs(target: string): Promise<void>;
  processAlive(pid: number): boolean;
  /** Resolves when the process has exited; rejects when it was already gone. */
  watchExit(pid: number): Promise<void>;
  /** SIGKILL, resolved once the process is gone (or was already). */
  killProcess(pid: number): Promise<void>;
  launchMonitor(launch: MonitorLaunch): Promise<MonitoredContainer>;
  /** The monitor reopens the container's log; resolves once the new file exists. */
  reopenLog(stateDir: string): Promise<void>;
  /** The monitor signals the container's process, which it has not reaped; resolves once sent (or the process is gone). */
  signal(stateDir: string, signal: number): Promise<void>;
  /** The exit the monitor recorded; null while the container runs. */
  readExitFile(stateDir: string): Promise<ExitStatus | null>;
  /** Joins the stdio the monitor holds for a running container. */
  attach(stateDir: string): Promise<MonitorAttachment>;
  /** A new pty for `runtime exec --tty`, which wants its own stdio to be a terminal. */
  openTerminal(): Terminal;
}

/** A pty whose slave becomes a child's stdio, and whose master the daemon reads and writes. */
export interface Terminal {
  /** The slave's descriptor, for spawn's stdio; closed by `releaseSlave` once the child has it. */
  readonly slave: number;
  releaseSlave(): void;
  /** The master: what the child writes comes out, what is written is its input. Ends once no process holds the slave. */
  readonly stream: Duplex;
  resize(size: { readonly rows: number; readonly cols: number }): void;
  close(): void;
}

export const nativeContainerHost: ContainerHost = {
  mountRootfs: async (request) => void (await mountOverlay(request)),
  unmountRootfs: async (target) => void (await unmountOverlay(target)),
  processAlive: (pid) => pidAlive(pid),
  watchExit: (pid) => watchExit(pid),
  async killProcess(pid) {
    // Watched before the kill, so the pid cannot be reused in between; a process already gone rejects.
    const gone = watchExit(pid).catch(() => undefined);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await gone;
  },
  launchMonitor,
  reopenLog: (stateDir) => monitorCommand(stateDir, 'reopen'),
  signal: (stateDir, signal) => monitorCommand(stateDir, `signal ${signal}`),
  readExitFile,
  attach: attachMonitor,
  openTerminal() {
    // 24x80 until the client's first resize, as a terminal without a size reads as 0x0.
    const { master, slave } = openPty(24, 80);
    // One tty.ReadStream both reads and writes a pty master, and closes it when destroyed.
    const stream = new ReadStream(master);
    // Once the last holder of the slave has closed it, reading the master fails with EIO, which may come as an
    // error instead of an end: either way the stream closes after the last output, and that close is the end.
    stream.on('error', () => undefined);
    let slaveOpen = true;
    return {
      slave,
      releaseSlave() {
        if (slaveOpen) closeSync(slave);
        slaveOpen = false;
      },
      stream,
      resize: ({ rows, cols }) => {
        if (!stream.destroyed) setWindowSize(master, rows, cols);
      },
      close() {
        this.releaseSlave();
        stream.destroy();
      },
    };
  },
};
