import type { HostProbe } from './addon.js';
import { loadAddon, type NativeAddon } from './load-addon.js';
import { callNative } from './native-error.js';

export type {
  CgroupLayout,
  CgroupV1Controller,
  CgroupV2Hierarchy,
  Cgroups,
  HostProbe,
  MountApi,
  OomScoreAdj,
  Pidfd,
  Support,
  UserNamespaces,
} from './addon.js';

/** The part of the addon the probe needs, so that tests can pass a fake. */
export type HostProbeAddon = Pick<NativeAddon, 'probeHost'>;

/**
 * Reports what the host's kernel offers crion (overlay and the new mount
 * API, pidfd, the cgroup layout, user namespaces, whether oom_score_adj can
 * be lowered), computed on a worker thread. A feature the host lacks is
 * `available: false` with a reason; the promise rejects, with a
 * {@link NativeError}, only when /proc itself cannot be read or parsed.
 */
export async function probeHost(addon: HostProbeAddon = loadAddon()): Promise<HostProbe> {
  return await callNative(() => addon.probeHost());
}
