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
 * callers; and its result served for a short TTL, because the kubelet asks
 * for every container's stats every few seconds through several calls
 * (ListContainerStats, ListPodSandboxStats) and a disk figure a few seconds
 * old is what cadvisor serves too.
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
    if (cached && this.now().getTime() - cached.measuredAt.getTime() < this.options.ttlMs) return cached;
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
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** Forgets the layers of containers that no longer exist. */
  retain(exists: (key: string) => boolean): void {
    for (const key of this.cache.keys()) {
      if (!exists(key)) this.cache.delete(key);
    }
  }
}
