import { mountOverlay, pidAlive, unmountOverlay, watchExit, type OverlayMountRequest } from '../native/index.js';
import { launchMonitor, monitorCommand, readExitFile, type ExitStatus, type MonitoredContainer, type MonitorLaunch } from './monitor.js';

/**
 * The host side of containers: the rootfs mount, the monitor, and the
 * processes the daemon watches, as sandbox-host.ts is for pods. The OCI
 * runtime comes separately, per handler. Everything the container
 * lifecycle does to the machine goes through here, so a fake stands in for
 * it in the unit tests.
 */
export interface ContainerHost {
  mountRootfs(request: OverlayMountRequest): Promise<void>;
  /** Nothing mounted there counts as done. */
  unmountRootfs(target: string): Promise<void>;
  processAlive(pid: number): boolean;
  /** Resolves when the process has exited; rejects when it was already gone. */
  watchExit(pid: number): Promise<void>;
  /** SIGKILL, resolved once the process is gone (or was already). */
  killProcess(pid: number): Promise<void>;
  launchMonitor(launch: MonitorLaunch): Promise<MonitoredContainer>;
  /** The monitor reopens the container's log; resolves once the new file exists. */
  reopenLog(stateDir: string): Promise<void>;
  /** The exit the monitor recorded; null while the container runs. */
  readExitFile(stateDir: string): Promise<ExitStatus | null>;
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
  readExitFile,
};
