import path from 'node:path';
import type { LifecycleEvents } from '../events/container-events.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import type { ContainerHost } from './container-host.js';
import type { ContainerRecord } from './container-record.js';

/**
 * Learns of container exits and records them. Each started container's
 * monitor is watched through a pidfd: the monitor outlives its container
 * only long enough to write the exit file, so its exit means the file is
 * there. No polling, and after a daemon restart the same watch picks the
 * running containers up again.
 */

/** ContainerStatus's reason for an exit. */
export type ExitReason = 'Completed' | 'Error' | 'OOMKilled' | 'StartError';

/** Told of each app container's exit once it is recorded (the metrics); infra containers are their pods'. */
export interface ExitObserver {
  exited(reason: ExitReason): void;
}

export interface ExitTrackerDeps {
  readonly records: RecordStore<ContainerRecord>;
  /** state/c: each container's monitor state, where its exit file is. */
  readonly runtimeDir: string;
  readonly containerHost: Pick<ContainerHost, 'watchExit' | 'readExitFile'>;
  /** Told after an infra container's exit is recorded: its pod is no longer whole. */
  readonly infraExited: (sandboxId: string, containerId: string) => Promise<void>;
  /** Told of an app container's exit once it is recorded; an infra container's is its pod's, which infraExited tells. */
  readonly events: LifecycleEvents;
  readonly exitObserver?: ExitObserver;
}

export class ExitTracker {
  /** Resolves when the container's monitor has exited and its record says so. */
  private readonly exits = new Map<string, Promise<void>>();

  constructor(private readonly deps: ExitTrackerDeps) {}

  /** Watches the container's monitor, once however often it is called. */
  follow(container: ContainerRecord): void {
    if (this.exits.has(container.id)) return;
    const exited = this.deps.containerHost
      .watchExit(container.monitorPid)
      // A monitor already gone has written its exit file, or never will: either way the record is settled now.
      .catch(() => undefined)
      .then(() => this.recordExit(container.id));
    this.exits.set(container.id, exited);
  }

  /** True when the container's exit was recorded within `timeoutMs`. */
  async waitExit(container: ContainerRecord, timeoutMs: number): Promise<boolean> {
    this.follow(container);
    const exited = this.exits.get(container.id)!;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return outcome;
  }

  forget(id: string): void {
    this.exits.delete(id);
  }

  /**
   * Records the exit from the monitor's exit file. `startFailure` is the
   * runtime's reason when the start itself failed; without an exit file
   * the monitor died before it could write one.
   */
  async recordExit(id: string, startFailure?: string): Promise<void> {
    const container = this.deps.records.get(id);
    if (!container || container.state === 'CONTAINER_EXITED') return;
    const status = await this.deps.containerHost.readExitFile(path.join(this.deps.runtimeDir, id));
    const failed = startFailure !== undefined;
    const reason: ExitReason = failed ? 'StartError' : status?.oomKilled ? 'OOMKilled' : status && status.exitCode === 0 ? 'Completed' : 'Error';
    await this.deps.records.save({
      ...container,
      state: 'CONTAINER_EXITED',
      finishedAt: status ? nanosOf(status.exitedAt) : unixNanos(),
      exitCode: status?.exitCode ?? (failed ? 128 : 255),
      reason,
      message: startFailure ?? (status ? '' : 'the container monitor died without recording an exit status'),
    });
    if (container.infra) await this.deps.infraExited(container.sandboxId, id);
    else {
      this.deps.exitObserver?.exited(reason);
      this.deps.events.publish('CONTAINER_STOPPED_EVENT', id, container.sandboxId);
    }
  }
}

/** The monitor writes RFC 3339 with nanoseconds; CRI wants nanoseconds since the epoch, as a decimal string. */
export function nanosOf(rfc3339: string): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(rfc3339);
  const seconds = BigInt(Math.floor(Date.parse(`${match?.[1] ?? rfc3339}Z`) / 1000));
  const fraction = BigInt((match?.[2] ?? '0').padEnd(9, '0').slice(0, 9));
  return (seconds * 1_000_000_000n + fraction).toString();
}
