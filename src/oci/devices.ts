import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { Device__Output } from '../generated/runtime/v1/Device.js';
import type { HostLookups } from './spec-inputs.js';
import type { OciDevice, OciDeviceCgroup } from './spec-types.js';

/**
 * linux.devices and the device cgroup rules. An unprivileged container may
 * use only the devices every program expects (the nodes runc creates in
 * /dev, the pty pair and the console) plus the ones the CRI request maps in;
 * a privileged one gets every device node of the node and access to all.
 */

const RWM = 'rwm';

/** Deny everything, then containerd's allow list: null, random, full, tty, zero, urandom, console, the pts, ptmx. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceCgroup[] = [
  { allow: false, access: RWM },
  { allow: true, type: 'c', major: 1, minor: 3, access: RWM },
  { allow: true, type: 'c', major: 1, minor: 8, access: RWM },
  { allow: true, type: 'c', major: 1, minor: 7, access: RWM },
  { allow: true, type: 'c', major: 5, minor: 0, access: RWM },
  { allow: true, type: 'c', major: 1, minor: 5, access: RWM },
  { allow: true, type: 'c', major: 1, minor: 9, access: RWM },
  { allow: true, type: 'c', major: 5, minor: 1, access: RWM },
  { allow: true, type: 'c', major: 136, access: RWM },
  { allow: true, type: 'c', major: 5, minor: 2, access: RWM },
];

export interface ContainerDevices {
  readonly devices: OciDevice[];
  readonly rules: OciDeviceCgroup[];
}

export function containerDevices(
  requested: readonly Device__Output[],
  privileged: boolean,
  lookups: Pick<HostLookups, 'statDevice' | 'listHostDevices'>,
): ContainerDevices {
  const mapped = requested.map((device, i) => {
    const field = `devices[${i}]`;
    if (!path.posix.isAbsolute(device.hostPath)) {
      throw new InvalidArgumentError(`${field}.host_path "${device.hostPath}" is not an absolute path`);
    }
    // crictl lets container_path default to the host path, as docker run --device does.
    const containerPath = device.containerPath === '' ? device.hostPath : device.containerPath;
    if (!path.posix.isAbsolute(containerPath)) {
      throw new InvalidArgumentError(`${field}.container_path "${containerPath}" is not an absolute path`);
    }
    const access = device.permissions === '' ? RWM : device.permissions;
    if (!/^[rwm]+$/.test(access) || new Set(access).size !== access.length) {
      throw new InvalidArgumentError(`${field}.permissions "${device.permissions}" is not a combination of r, w and m`);
    }
    const node = lookups.statDevice(device.hostPath);
    if (node === null) throw new InvalidArgumentError(`${field}.host_path "${device.hostPath}" is not a device node`);
    const oci: OciDevice = {
      path: path.posix.normalize(containerPath),
      type: node.type,
      major: node.major,
      minor: node.minor,
      fileMode: node.fileMode,
      uid: node.uid,
      gid: node.gid,
    };
    const rule: OciDeviceCgroup = { allow: true, type: node.type, major: node.major, minor: node.minor, access };
    return { oci, rule };
  });

  if (privileged) {
    const requestedPaths = new Set(mapped.map(({ oci }) => oci.path));
    const host = lookups
      .listHostDevices()
      .filter((device) => !requestedPaths.has(device.path))
      .map((device): OciDevice => ({ ...device }));
    return { devices: [...host, ...mapped.map(({ oci }) => oci)], rules: [{ allow: true, access: RWM }] };
  }
  return {
    devices: mapped.map(({ oci }) => oci),
    rules: [...DEFAULT_DEVICE_RULES.map((rule) => ({ ...rule })), ...mapped.map(({ rule }) => rule)],
  };
}
