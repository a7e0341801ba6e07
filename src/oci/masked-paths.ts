import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';

/**
 * linux.maskedPaths and linux.readonlyPaths: the /proc and /sys entries
 * that would expose or change the node.
 *
 * crion uses the request's lists as they are, as containerd does: the
 * kubelet sends the defaults below for every unprivileged container with
 * the Default procMount, and empty lists for procMount Unmasked. Proto3
 * cannot tell an empty list from a missing one, so "empty" has to mean
 * "mask nothing" for Unmasked to work; a client other than the kubelet
 * that wants the defaults sends them (DEFAULT_MASKED_PATHS is exported for
 * that). Privileged containers get neither list, whatever was sent.
 */

/** The kubelet's and containerd's defaults. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface ProcPaths {
  readonly maskedPaths: string[];
  readonly readonlyPaths: string[];
}

export function procPaths(securityContext: LinuxContainerSecurityContext__Output | null): ProcPaths {
  if (securityContext === null || securityContext.privileged) return { maskedPaths: [], readonlyPaths: [] };
  return { maskedPaths: [...securityContext.maskedPaths], readonlyPaths: [...securityContext.readonlyPaths] };
}
