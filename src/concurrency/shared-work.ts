/**
 * Joins identical work in flight: the second caller asking for `key` while
 * the first is still at it gets the same promise instead of doing it again.
 */
export class SharedWork<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const started = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return started;
  }
}
