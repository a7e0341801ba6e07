/**
 * Keeps a plugin's Synchronize and the creates that would race it apart
 * (the NRI contract: a container made while a plugin synchronizes reaches it
 * in the Synchronize set or as a CreateContainer, never neither). A create
 * holds the gate shared from its hook until its record is saved; a
 * Synchronize holds it alone from its snapshot until the plugin is in the
 * dispatch list. A waiting Synchronize goes before creates that come after
 * it, so a stream of creates cannot starve a plugin that connects.
 */
export class SyncGate {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiting: Array<{ exclusive: boolean; grant: () => void }> = [];

  async shared<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await work();
    } finally {
      this.sharedHolders -= 1;
      this.wake();
    }
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await work();
    } finally {
      this.exclusiveHeld = false;
      this.wake();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.free(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((grant) => this.waiting.push({ exclusive, grant }));
  }

  private free(exclusive: boolean): boolean {
    return !this.exclusiveHeld && (!exclusive || this.sharedHolders === 0);
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusiveHeld = true;
    else this.sharedHolders += 1;
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) {
      const next = this.waiting.shift()!;
      this.take(next.exclusive);
      next.grant();
    }
  }
}
