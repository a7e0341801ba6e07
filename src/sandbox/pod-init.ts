import { execFile } from 'node:child_process';
import { mkdir, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.js';
import { containerCgroupsPath } from '../oci/cgroups-path.js';

const run = promisify(execFile);

/**
 * The holder of a shared PID namespace that crion prefers to a pause container: `crion-monitor pod-init`
 * (native/monitor/README.md) joins the pod's pinned namespaces, starts an init as PID 1 of a new PID
 * namespace, with no privileges and an empty root, that reaps orphans and ends on SIGTERM as pause does, pins the
 * namespace at `<pod>/ns/pid` and exits. No image, no bundle, no OCI runtime: a few milliseconds where the pause
 * container's launch costs ~90. The init outlives the daemon; its cgroup is `<parent>/crion-<pod ID>` in every
 * hierarchy it joins, the name runc would give a container of that ID, made and removed here. It is moved there
 * once it runs, not by the launcher: a move into a v1 cgroup waits for an RCU grace period (~15 ms here), which
 * the pod's start need not wait for.
 */

export interface PodInitDeps {
  readonly binary: string;
  /** Mount points of the hierarchies the init joins: each v1 one but cpuset's, or the v2 root. */
  readonly hierarchies: readonly string[];
  /** Resolves once the process has exited, at once when it is already gone; see src/native/exit-watch.ts. */
  readonly watchExit: (pid: number) => Promise<void>;
  readonly log: Logger;
}

/** What a pod init needs of its pod. */
export interface PodInitTarget {
  readonly id: string;
  readonly cgroupParent: string;
  readonly namespaces: { readonly net: string | null; readonly ipc: string | null; readonly uts: string | null };
}

/** An init's process ID and the pin of its PID namespace, which together tell it from a later process of that ID. */
export interface PodInitProcess {
  readonly pid: number;
  readonly pin: string;
}

/** A new cpuset cgroup has no CPUs or memory nodes until they are written, and refuses tasks until then. */
const SKIPPED_V1_HIERARCHIES = new Set(['cpuset']);
/** An exited init leaves its cgroup a moment after its exit is seen. */
const RMDIR_ATTEMPTS = 20;
const RMDIR_PAUSE_MS = 5;

export class PodInits {
  /** Pods whose init crion ends itself: their exits are expected, not news. */
  private readonly ending = new Set<string>();
  /** Moves of inits into their cgroups still under way, by pod; settled (never rejected) before a stop or removal. */
  private readonly joins = new Map<string, Promise<void>>();

  constructor(private readonly deps: PodInitDeps) {}

  /** Starts the pod's init; on failure nothing of it is left but the pin file, which the pod's namespace removal takes. */
  async start(pod: PodInitTarget, pin: string): Promise<PodInitProcess> {
    const cgroups = this.cgroupDirs(pod);
    const args = ['pod-init', '--pid-pin', pin];
    if (pod.namespaces.net !== null) args.push('--netns', pod.namespaces.net);
    if (pod.namespaces.ipc !== null) args.push('--ipcns', pod.namespaces.ipc);
    if (pod.namespaces.uts !== null) args.push('--utsns', pod.namespaces.uts);
    let pid: number;
    try {
      for (const dir of cgroups) await mkdir(dir, { recursive: true });
      await writeFile(pin, '', { mode: 0o444, flag: 'wx' });
      const { stdout } = await run(this.deps.binary, args);
      pid = (JSON.parse(stdout) as { pid: number }).pid;
    } catch (error) {
      await this.removeCgroups(pod);
      throw new Error(`starting the pod init: ${launchFailure(error)}`, { cause: error });
    }
    this.joins.set(pod.id, this.joinCgroups(pod, pid, cgroups));
    return { pid, pin };
  }

  private async joinCgroups(pod: PodInitTarget, pid: number, cgroups: readonly string[]): Promise<void> {
    try {
      for (const dir of cgroups) await writeFile(path.join(dir, 'cgroup.procs'), `${pid}\n`);
    } catch (error) {
      // ESRCH: it has already exited, which its watch reports.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
        this.deps.log.warn({ err: error, podSandboxId: pod.id, podInitPid: pid }, 'the pod init stays outside its pod cgroups');
      }
    }
  }

  /** Calls `exited` when the init ends, unless crion ended it; an init already gone calls it at once. */
  follow(pod: PodInitTarget, init: PodInitProcess, exited: () => void): void {
    void this.isRunning(init).then(async (running) => {
      if (running) await this.deps.watchExit(init.pid).catch(() => undefined);
      if (!this.ending.has(pod.id)) exited();
    });
  }

  /** Ends the init and waits until it is gone; idempotent. Its cgroups stay until `remove`. */
  async stop(pod: PodInitTarget, init: PodInitProcess): Promise<void> {
    this.ending.add(pod.id);
    await this.joins.get(pod.id);
    await this.kill((await this.isRunning(init)) ? [init.pid] : []);
  }

  /**
   * The init of a create the daemon died in before recording its PID, found as what runs in the PID namespace at
   * `pin`; the launcher pins it before it answers, and a launcher whose answer finds no reader ends its init.
   */
  async stopUnrecorded(pod: PodInitTarget, pin: string): Promise<void> {
    this.ending.add(pod.id);
    const pinned = await stat(pin).catch(() => null);
    if (pinned === null) return;
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      if (sameFile(pinned, await stat(`/proc/${entry}/ns/pid`).catch(() => null))) pids.push(Number(entry));
    }
    await this.kill(pids);
  }

  private async kill(pids: readonly number[]): Promise<void> {
    for (const pid of pids) {
      // From outside its namespace SIGKILL reaches PID 1 whatever it handles, and takes every process left in the namespace.
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    await Promise.all(pids.map((pid) => this.deps.watchExit(pid).catch(() => undefined)));
  }

  /** After `stop`: the init's cgroups. */
  async remove(pod: PodInitTarget): Promise<void> {
    await this.joins.get(pod.id);
    await this.removeCgroups(pod);
    this.joins.delete(pod.id);
    this.ending.delete(pod.id);
  }

  /** A PID is reused once its process is gone, but never for a process in the pinned namespace, which died with it. */
  private async isRunning(init: PodInitProcess): Promise<boolean> {
    const [pinned, current] = await Promise.all([stat(init.pin).catch(() => null), stat(`/proc/${init.pid}/ns/pid`).catch(() => null)]);
    return pinned !== null && sameFile(pinned, current);
  }

  private cgroupDirs(pod: PodInitTarget): string[] {
    const relative = containerCgroupsPath(pod.cgroupParent, 'cgroupfs', pod.id);
    return this.deps.hierarchies.map((mountPoint) => path.join(mountPoint, relative));
  }

  private async removeCgroups(pod: PodInitTarget): Promise<void> {
    for (const dir of this.cgroupDirs(pod)) {
      for (let attempt = 1; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt === RMDIR_ATTEMPTS) throw error;
          await sleep(RMDIR_PAUSE_MS);
        }
      }
    }
  }
}

/** Each v1 hierarchy (co-mounted controllers once) but those that refuse a task in a new cgroup, or the v2 root. */
export function podInitHierarchies(cgroups: {
  readonly layout: 'v1' | 'v2' | 'hybrid' | null;
  readonly v1Controllers: ReadonlyArray<{ readonly name: string; readonly mountPoint: string }>;
  readonly v2: { readonly mountPoint: string } | null;
}): string[] {
  if (cgroups.layout === 'v2') return cgroups.v2 === null ? [] : [cgroups.v2.mountPoint];
  const mountPoints = cgroups.v1Controllers.filter((controller) => !SKIPPED_V1_HIERARCHIES.has(controller.name)).map((c) => c.mountPoint);
  return [...new Set(mountPoints)];
}

/** Two stats of one namespace (a pin and a /proc link) name the same nsfs inode. */
function sameFile(a: { dev: number; ino: number }, b: { dev: number; ino: number } | null): boolean {
  return b !== null && a.dev === b.dev && a.ino === b.ino;
}

/** The launcher's own line (`crion-monitor: …`) where it wrote one, else what execFile knows. */
function launchFailure(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim() ?? '';
  if (stderr !== '') return stderr.replace(/^crion-monitor: /, '');
  return error instanceof Error ? error.message : String(error);
}

/** The pin of a pod's shared PID namespace, beside its other namespace pins. */
export function pidNamespacePin(namespaceDir: string): string {
  return path.join(namespaceDir, 'pid');
}
