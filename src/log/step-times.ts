import { performance } from 'node:perf_hooks';
import type { Logger } from './logger.js';

/**
 * Where a pod's or container's start spends its time: each step's
 * milliseconds, logged as one debug line when the whole is done
 * (`bench/pod-steps.ts` reads them). At info and above it is a no-op, so
 * the hot path pays one level check per RPC and a direct call per step.
 * Steps may overlap (the CNI ADD runs beside the infra container), so each
 * is timed on its own rather than as the gap since the previous one.
 */
export interface StepTimes {
  /** Runs `work`, adding its time to `step`'s. */
  time<T>(step: string, work: () => Promise<T>): Promise<T>;
  /** Logs the steps' times at debug with `fields`, and the whole time since the start. */
  done(fields: Record<string, unknown>): void;
}

const OFF: StepTimes = {
  time: (_step, work) => work(),
  done: () => undefined,
};

/** `msg` names what was timed, such as "RunPodSandbox steps". */
export function stepTimes(log: Logger, msg: string): StepTimes {
  if (!log.isLevelEnabled('debug')) return OFF;
  const started = performance.now();
  const stepsMs: Record<string, number> = {};
  return {
    async time(step, work) {
      const begun = performance.now();
      try {
        return await work();
      } finally {
        stepsMs[step] = (stepsMs[step] ?? 0) + performance.now() - begun;
      }
    },
    done(fields) {
      log.debug({ ...fields, totalMs: performance.now() - started, stepsMs }, msg);
    },
  };
}
