import { AlreadyExistsError } from '../errors.js';
import type { RecordStore } from '../state/record-store.js';

/**
 * The names the kubelet gives pods and containers, reserved while they
 * exist. A create whose caller gave up (its deadline passed) still runs to
 * the end, and the kubelet's retry under the same name then gets that very
 * object, instead of "name is reserved" and a leaked pod that nobody owns.
 * CRI-O does the same; containerd makes the kubelet wait for its GC.
 */

/**
 * How an object is marked as made for a caller that left: kept with the
 * object's record, so the retry is recognised after a daemon restart too.
 */
export interface UnclaimedMarks<T> {
  mark(object: T): Promise<void>;
  isMarked(object: T): boolean;
  clear(object: T): Promise<void>;
}

export class NameReservations<T> {
  private readonly inFlight = new Map<string, { result: Promise<T>; callerGaveUp: () => boolean; delivered: boolean }>();

  constructor(private readonly marks: UnclaimedMarks<T>) {}

  async create(options: {
    name: string;
    signal: AbortSignal | undefined;
    existing: () => T | undefined;
    describe: (object: T) => string;
    /**
     * Makes the object. `callerGaveUp` lets it save the object already marked
     * when its caller left before the end, so a daemon that dies between the
     * save and the mark step below still hands it to the retry.
     */
    make: (callerGaveUp: () => boolean) => Promise<T>;
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
      // Only the first retry is handed the object; a later call with the name is a real duplicate.
      if (this.marks.isMarked(found)) {
        await this.marks.clear(found);
        return found;
      }
      throw new AlreadyExistsError(`name "${name}" is reserved by ${options.describe(found)}`);
    }
    const callerGaveUp = () => signal?.aborted ?? false;
    const entry = { result: options.make(callerGaveUp), callerGaveUp, delivered: false };
    this.inFlight.set(name, entry);
    try {
      const value = await entry.result;
      if (entry.callerGaveUp() && !entry.delivered) {
        await this.marks.mark(value);
        // A retry that joined while the mark was written has the object already.
        if (entry.delivered) await this.marks.clear(value);
      } else if (entry.delivered) {
        // Made for a caller that left and saved marked, but a retry joined in time and has it.
        await this.marks.clear(value);
      }
      return value;
    } finally {
      this.inFlight.delete(name);
    }
  }
}

/** Marks kept as an `unclaimed` flag on the object's own record, written with the latest version of it. */
export function recordMarks<T extends { readonly id: string; readonly unclaimed?: boolean }>(records: RecordStore<T>): UnclaimedMarks<T> {
  const set = async (object: T, unclaimed: boolean): Promise<void> => {
    const current = records.get(object.id);
    if (current === undefined || (current.unclaimed === true) === unclaimed) return;
    const { unclaimed: _previous, ...rest } = current;
    await records.save((unclaimed ? { ...rest, unclaimed } : rest) as T);
  };
  return {
    mark: (object) => set(object, true),
    isMarked: (object) => records.get(object.id)?.unclaimed === true,
    clear: (object) => set(object, false),
  };
}
