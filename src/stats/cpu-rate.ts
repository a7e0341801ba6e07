/** Samples closer together than this keep the older base, so back-to-back callers do not get a rate over a few milliseconds. */
const DEFAULT_MIN_WINDOW_NANOS = 1_000_000_000n;

interface Sample {
  readonly cpuNanos: bigint;
  readonly at: bigint;
  readonly rate: bigint | null;
}

/**
 * usage_nano_cores: CPU time used per second of wall time since the
 * previous sample of the same container or pod, as containerd and CRI-O
 * derive it. The first sample has no rate. The kubelet, its eviction
 * manager and crictl may ask within milliseconds of each other; a sample
 * inside the minimum window gets the last rate and leaves the base alone.
 * A counter that went backwards (a pod's sum after one of its containers
 * exited) gives no rate, and the new sample becomes the base.
 */
export class CpuRates {
  private readonly previous = new Map<string, Sample>();

  constructor(
    /** A monotonic clock in nanoseconds; injectable for tests. */
    private readonly now: () => bigint = () => process.hrtime.bigint(),
    private readonly minWindowNanos: bigint = DEFAULT_MIN_WINDOW_NANOS,
  ) {}

  /** Records `cpuNanos` for `key` and returns its rate in nanocores, or null when there is none yet. */
  sample(key: string, cpuNanos: bigint): bigint | null {
    const at = this.now();
    const before = this.previous.get(key);
    if (before !== undefined && cpuNanos >= before.cpuNanos && at - before.at < this.minWindowNanos) return before.rate;
    const rate = before === undefined || cpuNanos < before.cpuNanos ? null : ((cpuNanos - before.cpuNanos) * 1_000_000_000n) / (at - before.at);
    this.previous.set(key, { cpuNanos, at, rate });
    return rate;
  }

  /** Drops the samples of containers and pods that no longer exist, so the map does not grow with churn. */
  retain(exists: (key: string) => boolean): void {
    for (const key of this.previous.keys()) {
      if (!exists(key)) this.previous.delete(key);
    }
  }
}
