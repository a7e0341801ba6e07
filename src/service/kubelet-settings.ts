import type { CrionConfig } from '../config/index.js';
import { resolveCgroupDriver, type CgroupDriver } from '../runtime/cgroup-driver.js';

/** What a kubelet must be told to use the daemon the unit runs. */
export interface KubeletSettings {
  /** For both the runtime and the image service: crion serves both on one socket. */
  readonly endpoint: string;
  readonly cgroupDriver: CgroupDriver;
}

/**
 * The settings of a daemon started by the unit. That daemon runs under
 * systemd, so `auto` is systemd there, whatever the host running
 * install-service (a build machine, a chroot) has as init.
 */
export async function kubeletSettings(config: CrionConfig): Promise<KubeletSettings> {
  return {
    endpoint: config.listen,
    cgroupDriver: await resolveCgroupDriver(config.runtime.cgroupDriver, () => Promise.resolve(true)),
  };
}

export function kubeletFlags(settings: KubeletSettings): string[] {
  return [
    `--container-runtime-endpoint=${settings.endpoint}`,
    `--image-service-endpoint=${settings.endpoint}`,
    `--cgroup-driver=${settings.cgroupDriver}`,
  ];
}

/** The same settings as KubeletConfiguration fields, which newer kubelets prefer to the flags. */
export function kubeletConfigurationFields(settings: KubeletSettings): string[] {
  return [`containerRuntimeEndpoint: ${settings.endpoint}`, `imageServiceEndpoint: ${settings.endpoint}`, `cgroupDriver: ${settings.cgroupDriver}`];
}
