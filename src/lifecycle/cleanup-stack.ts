import type { Logger } from '../log/logger.js';

/**
 * The undo steps of a create path, pushed as each resource is made and
 * unwound in reverse when a later step fails, so a failed RunPodSandbox or
 * CreateContainer leaves no mount, namespace, cgroup, process or record
 * behind. Each step is described, so a step that itself fails is logged
 * with what it was undoing, and the rest still run.
 */
export class CleanupStack {
  private readonly steps: Array<{ description: string; undo: () => Promise<void> | void }> = [];

  push(description: string, undo: () => Promise<void> | void): void {
    this.steps.push({ description, undo });
  }

  /** The create path succeeded: nothing to undo. */
  release(): void {
    this.steps.length = 0;
  }

  async unwind(log: Logger): Promise<void> {
    while (this.steps.length > 0) {
      const { description, undo } = this.steps.pop()!;
      try {
        await undo();
      } catch (error) {
        log.error({ err: error, step: description }, 'an undo step of a failed create failed; something may be left behind');
      }
    }
  }

  /** Runs `create` with this stack; unwinds it if `create` throws, then rethrows. */
  static async run<T>(log: Logger, create: (cleanup: CleanupStack) => Promise<T>): Promise<T> {
    const cleanup = new CleanupStack();
    try {
      const result = await create(cleanup);
      cleanup.release();
      return result;
    } catch (error) {
      await cleanup.unwind(log);
      throw error;
    }
  }
}
