/**
 * Joins identical work in flight: the second caller asking for `key` while
 * the first is still at it gets the same result instead of doing it again.
 *
 * A caller may bring a signal. One whose signal aborts is answered at once
 * with its reason and leaves; the work goes on while anyone still waits for
 * it, and when the last caller leaves its signal is aborted with that
 * caller's reason. The last to leave is answered only once the cancelled
 * work has settled, so by then the work has undone what it started. A
 * caller without a signal never leaves. Someone asking for a key whose work
 * is being cancelled waits for it to settle and starts it afresh: one key
 * never has two works in flight, which would race on whatever they share.
 */
export class SharedWork<T> {
  private readonly inFlight = new Map<string, Shared<T>>();

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as unknown);
    let shared = this.inFlight.get(key);
    if (shared === undefined || shared.controller.signal.aborted) shared = this.start(key, work, shared?.settled);
    return join(shared, signal);
  }

  private start(key: string, work: (signal: AbortSignal) => Promise<T>, after: Promise<void> | undefined): Shared<T> {
    const controller = new AbortController();
    const result = (after ?? Promise.resolve()).then(() => {
      controller.signal.throwIfAborted();
      return work(controller.signal);
    });
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    const shared: Shared<T> = { controller, result, settled, callers: 0 };
    this.inFlight.set(key, shared);
    void settled.then(() => {
      if (this.inFlight.get(key) === shared) this.inFlight.delete(key);
    });
    return shared;
  }
}

interface Shared<T> {
  /** Aborted when the last caller leaves. */
  readonly controller: AbortController;
  readonly result: Promise<T>;
  /** Resolves when the work is over, whatever its outcome. */
  readonly settled: Promise<void>;
  callers: number;
}

function join<T>(shared: Shared<T>, signal: AbortSignal | undefined): Promise<T> {
  shared.callers += 1;
  if (signal === undefined) return shared.result;
  return new Promise<T>((resolve, reject) => {
    const leave = (): void => {
      shared.callers -= 1;
      if (shared.callers > 0) {
        reject(signal.reason as unknown);
        return;
      }
      shared.controller.abort(signal.reason);
      // A work that finished before it noticed the abort still answers with its outcome.
      void shared.settled.then(() => reject(signal.reason as unknown));
    };
    signal.addEventListener('abort', leave, { once: true });
    shared.result.then(
      (value) => {
        signal.removeEventListener('abort', leave);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', leave);
        reject(error);
      },
    );
  });
}
