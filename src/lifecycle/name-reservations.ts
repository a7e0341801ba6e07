import { AlreadyExistsError } from '../errors.js';

/**
 * The names the kubelet gives pods and containers, reserved while they
 * exist. A create whose caller gave up (its deadline passed) still runs to
 * the end, and the kubelet's retry under the same name then gets that very
 * object, instead of "name is reserved" and a leaked pod that nobody owns.
 * CRI-O does the same; containerd makes the kubelet wait for its GC.
 */
export class NameReservations<T> {
  private readonly inFlight = new Map<string, { result: Promise<T>; callerGaveUp: () => boolean; delivered: boolean }>();
  /** Creates that finished after their caller left: the next call with the name is that caller's retry. */
  private readonly unclaimed = new Set<string>();

  async create(options: {
    name: string;
    signal: AbortSignal | undefined;
    existing: () => T | undefined;
    describe: (object: T) => string;
    make: () => Promise<T>;
  }): Promise<T> {
    const { name, signal } = options;
    const running = this.inFlight.get(name);
    if (running) {
      if (!running.callerGaveUp()) throw new AlreadyExistsError(`name "${name}" is reserved by a create in progress`);
      running.delivered = true;
      return running.result;
    }
    const found = options.existing();
    if (found !== undefined) {
      if (this.unclaimed.delete(name)) return found;
      throw new AlreadyExistsError(`name "${name}" is reserved by ${options.describe(found)}`);
    }
    this.unclaimed.delete(name);
    const entry = { result: options.make(), callerGaveUp: () => signal?.aborted ?? false, delivered: false };
    this.inFlight.set(name, entry);
    try {
      const value = await entry.result;
      if (entry.callerGaveUp() && !entry.delivered) this.unclaimed.add(name);
      return value;
    } finally {
      this.inFlight.delete(name);
    }
  }
}
