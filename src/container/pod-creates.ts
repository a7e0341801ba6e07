/**
 * The container creates still running in each pod. Stopping or removing a
 * pod waits for them first: a create that the kubelet gave up on runs on,
 * and would otherwise save its container after the pod's containers were
 * listed, leaving it running in a pod that is gone. Once a pod's removal
 * has begun, no create may start in it.
 */
export class PodCreates {
  private readonly running = new Map<string, Set<Promise<void>>>();
  private readonly removing = new Set<string>();

  /** Call in the same tick as the pod's readiness check, so a stop or removal either sees this create or refuses it. */
  track(sandboxId: string, created: Promise<unknown>): void {
    const inPod = this.running.get(sandboxId) ?? new Set<Promise<void>>();
    this.running.set(sandboxId, inPod);
    const settled = created.then(
      () => undefined,
      () => undefined,
    );
    inPod.add(settled);
    void settled.then(() => {
      inPod.delete(settled);
      if (inPod.size === 0) this.running.delete(sandboxId);
    });
  }

  /** Resolves once every create begun in the pod so far has saved its container or undone itself. */
  async settle(sandboxId: string): Promise<void> {
    await Promise.all([...(this.running.get(sandboxId) ?? [])]);
  }

  /** From now on the pod takes no new create. `podExists` prunes the marks of pods already gone, so the set never outgrows the pods. */
  beginRemoval(sandboxId: string, podExists: (id: string) => boolean): void {
    for (const id of this.removing) if (!podExists(id)) this.removing.delete(id);
    this.removing.add(sandboxId);
  }

  isRemoving(sandboxId: string): boolean {
    return this.removing.has(sandboxId);
  }
}
