import type { Logger } from '../log/logger.js';

/**
 * One part of a node-wide figure read on its own: a failure is logged and
 * gives null, so one container whose cgroup went away mid-read cannot fail
 * the kubelet's whole scrape. `what` says which scrape it was part of.
 */
export async function guardedRead<T>(log: Logger, what: string, id: string, part: string, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    log.warn({ id, err: error }, `${what}: could not read the ${part}`);
    return null;
  }
}
