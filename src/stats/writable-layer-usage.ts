import { Limiter } from '../concurrency/limiter.js';
import { SharedWork } from '../concurrency/shared-work.js';
import { diskUsage, type DiskUsage } from '../fs/disk-usage.js';

export interface MeasuredUsage extends DiskUsage {
  /** When the walk finished: the timestamp the CRI FilesystemUsage reports. */
  readonly measuredAt: Date;
}

export interface WritableLayerUsageOptions {
  /** How long a measurement is served before the layer is walked again. */
  readonly ttlMs: number;
  /** Walks running at once, so a node full of containers does not fill libuv's thread pool. */
  readonly maxConcurrentWalks: number;
  readonly measure?: (dir: string) => Promise<DiskUsage>;
  readonly now?: () => Date;
}

/**
 * Bytes and inodes of containers' writable layers (their overlay upper
 * directories). There is no counter to read, so the directory is walked:
 * asynchronously, one lstat at a time, so the event loop never waits on a
 * big layer; at most a few walks at once; one walk shared by concurrent
 * callers. The kubelet asks for every container's stats every few seconds
 * through several calls (ListContainerStats, ListPodSandboxStats), so a
 * result is served for a short TTL, and after it a stale result is still
 * served at once while a fresh walk runs in the background: only the first
 * call for a container waits for a walk. A disk figure a few seconds old is
 * what cadvisor serves too; its timestamp says when it was measured.
 */
export class WritableLayerUsage {
  private readonly cache = new Map<string, MeasuredUsage>();
  private readonly walks = new SharedWork<MeasuredUsage>();
  private readonly limiter: Limiter;
  private readonly measure: (dir: string) => Promise<DiskUsage>;
  private readonly now: () => Date;

  constructor(private readonly options: WritableLayerUsageOptions) {
    this.limiter = new Limiter(options.maxConcurrentWalks);
    this.measure = options.measure ?? diskUsage;
    this.now = options.now ?? (() => new Date());
  }

  /** The usage of `dir`, the writable layer of container `key`; null when the directory is gone (the container was removed meanwhile). */
  async of(key: string, dir: string): Promise<MeasuredUsage | null> {
    const cached = this.cache.get(key);
    if (cached === undefined) return this.walk(key, dir);
    if (this.now().getTime() - cached.measuredAt.getTime() >= this.options.ttlMs) {
      // A failed refresh drops the entry, so the next call walks in the foreground and reports the failure.
      this.walk(key, dir).catch(() => this.cache.delete(key));
    }
    return cached;
  }

  private async walk(key: string, dir: string): Promise<MeasuredUsage | null> {
    try {
      return await this.walks.run(key, () =>
        this.limiter.run(async () => {
          const usage = await this.measure(dir);
          const measured = { ...usage, measuredAt: this.now() };
          this.cache.set(key, measured);
          return measured;
        }),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.cache.delete(key);
      return null;
    }
  }

  /** Forgets the layers of containers that no longer exist. */
  retain(exists: (key: string) => boolean): void {
    for (const key of this.cache.keys()) {
      if (!exists(key)) this.cache.delete(key);
    }
  }
}
