/**
 * usage_nano_cores: CPU time used per second of wall time since the
 * previous sample of the same container or pod, as containerd and CRI-O
 * derive it. The first sample has no rate. A counter that went backwards
 * (a pod's sum after one of its containers exited) gives no rate either,
 * and the new sample becomes the base.
 */
export class CpuRates {
  private readonly previous = new Map<string, { cpuNanos: bigint; at: bigint }>();

  /** A monotonic clock in nanoseconds; injectable for tests. */
  constructor(private readonly now: () => bigint = () => process.hrtime.bigint()) {}

  /** Records `cpuNanos` for `key` and returns the rate in nanocores since the last call for that key, or null. */
  sample(key: string, cpuNanos: bigint): bigint | null {
    const at = this.now();
    const before = this.previous.get(key);
    this.previous.set(key, { cpuNanos, at });
    if (before === undefined || at <= before.at || cpuNanos < before.cpuNanos) return null;
    return ((cpuNanos - before.cpuNanos) * 1_000_000_000n) / (at - before.at);
  }

  /** Drops the samples of containers and pods that no longer exist, so the map does not grow with churn. */
  retain(exists: (key: string) => boolean): void {
    for (const key of this.previous.keys()) {
      if (!exists(key)) this.previous.delete(key);
    }
  }
}
