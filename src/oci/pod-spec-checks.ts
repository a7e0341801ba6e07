import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import { cgroupParentPath } from './cgroups-path.js';
import { podSysctls } from './sysctls.js';

export interface PodSpecValues {
  readonly sysctls: Readonly<Record<string, string>>;
  readonly cgroupParent: string;
  readonly hostNetwork: boolean;
  readonly hostIpc: boolean;
}

/**
 * The pod's values that only its containers' specs use, refused as the
 * spec generation would refuse them, but when the pod is made: a pod none
 * of whose containers could be created must never be READY.
 */
export function checkPodSpecValues(pod: PodSpecValues, driver: CgroupDriver): void {
  podSysctls(pod.sysctls, { hostNetwork: pod.hostNetwork, hostIpc: pod.hostIpc });
  cgroupParentPath(pod.cgroupParent, driver);
}
