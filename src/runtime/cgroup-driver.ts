import { access } from 'node:fs/promises';

export type CgroupDriverSetting = 'auto' | 'cgroupfs' | 'systemd';
export type CgroupDriver = 'cgroupfs' | 'systemd';

/** sd_booted(3)'s test: systemd is the init system when this directory exists. */
const SYSTEMD_RUNNING_MARKER = '/run/systemd/system';

/**
 * The kubelet must use the same driver as the runtime, and asks for it
 * through RuntimeConfig; "auto" follows the host's init system as the
 * kubelet's own default does.
 */
export async function resolveCgroupDriver(
  setting: CgroupDriverSetting,
  isSystemdRunning: () => Promise<boolean> = systemdRunning,
): Promise<CgroupDriver> {
  if (setting !== 'auto') return setting;
  return (await isSystemdRunning()) ? 'systemd' : 'cgroupfs';
}

/** Also whether systemctl has a systemd to talk to. */
export async function systemdRunning(): Promise<boolean> {
  try {
    await access(SYSTEMD_RUNNING_MARKER);
    return true;
  } catch {
    return false;
  }
}
