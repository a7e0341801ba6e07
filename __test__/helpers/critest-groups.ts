import type { ExecutionContext } from 'ava';
import { critest, type CritestOptions, type CritestResult } from './critest.js';
import type { Daemon } from './daemon.js';

/**
 * How crion's suite covers critest v1.37: every spec belongs to one group,
 * which a test file runs and expects to pass in full, or is named below as
 * not run, with the reason. critest-coverage.test.ts checks the two lists
 * against critest's own listing, so a spec a new critest adds cannot go
 * unnoticed.
 */

export interface CritestGroup {
  /** ginkgo regexp over the spec text. */
  readonly focus: string;
  /** How many specs the focus picks once the specs not run are left out; each must run and pass. */
  readonly specs: number;
}

export interface CritestExclusion {
  /** ginkgo regexp over the spec text. */
  readonly specs: string;
  readonly count: number;
  readonly reason: string;
}

export const CRITEST_GROUPS = {
  /** critest.test.ts */
  runtimeInfo: { focus: '\\[k8s.io\\] Runtime info', specs: 2 },
  /** critest-runtime.test.ts: pods (metrics included), containers, idempotence, security context, mounts, OOM. */
  runtime: { focus: '\\[k8s.io\\] PodSandbox|\\[k8s.io\\] Container |Idempotence|Security Context|Container Mount|Container OOM', specs: 75 },
  /** critest-images.test.ts */
  images: { focus: 'Image Manager|Image Consistency|Image Identifier', specs: 14 },
  /** critest-network.test.ts */
  network: { focus: '\\[k8s.io\\] Networking|\\[k8s.io\\] Multiple Containers', specs: 7 },
  /** critest-streaming.test.ts */
  streaming: { focus: '\\[k8s.io\\] Streaming', specs: 5 },
  /** critest-image-volume.test.ts */
  imageVolume: { focus: '\\[Feature:ImageVolume\\]', specs: 5 },
  /** critest-nri.test.ts: NRI plugins on crion's socket (critest's --nri-socket). */
  nri: { focus: '\\[k8s.io\\] NRI', specs: 13 },
} as const satisfies Record<string, CritestGroup>;

/** The specs crion's suite does not run, and why. */
export const CRITEST_NOT_RUN: readonly CritestExclusion[] = [
  {
    specs: '\\[k8s.io\\] AppArmor',
    count: 9,
    reason: 'the host kernel has no AppArmor LSM (/sys/kernel/security/apparmor is absent), so critest skips them itself',
  },
  {
    specs: '\\[k8s.io\\] Security Context UserNamespaces',
    count: 6,
    reason:
      "user namespaces are not offered (Status reports user_namespaces false, so the kubelet sends no hostUsers: false pod): a pod's volumes need idmapped mounts, which Debian 12's runc 1.1.5 cannot make (runc 1.2 added them), and critest skips these specs on such a runtime",
  },
  {
    specs: 'public image with digest should be pulled and removed',
    count: 1,
    reason: 'it pulls by a digest of an image on a public registry, and this machine is offline: a rebuilt image cannot have that digest',
  },
];

/** The --ginkgo.skip of every group run: the specs not run, so that a group's focus never picks one. */
export const CRITEST_SKIP = CRITEST_NOT_RUN.map((exclusion) => exclusion.specs).join('|');

/** Runs a group's specs, never one of those not run. */
export function critestGroup(daemon: Daemon, group: CritestGroup, options: Omit<CritestOptions, 'focus' | 'skip'> = {}): Promise<CritestResult> {
  return critest(daemon, { ...options, focus: group.focus, skip: CRITEST_SKIP });
}

/** A group passes in full: every spec its focus picks ran and passed, and none skipped itself. */
export function assertGroupPassed(t: ExecutionContext, group: CritestGroup, result: CritestResult): void {
  t.log(`critest ran ${result.ran} of ${result.total} specs: ${result.passed} passed, ${result.skipped} skipped`);
  t.true(result.succeeded, result.output);
  t.deepEqual(result.selfSkipped, [], 'specs that skipped themselves');
  t.is(result.ran, group.specs, result.output);
  t.is(result.passed, group.specs, result.output);
}
