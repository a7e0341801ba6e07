import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { OciHandler } from './oci-handlers.js';

/**
 * What each OCI runtime handler can do beyond the basics, as Status reports
 * it to the kubelet (RuntimeHandlerFeatures) and CreateContainer relies on.
 * Asked once per handler at start, as containerd does: the runtime's
 * `features` subcommand (OCI runtime-spec features.md) and the kernel.
 */

export type FeatureSupport = { readonly available: true } | { readonly available: false; readonly reason: string };

export interface HandlerFeatures {
  /**
   * KEP-3857: a read-only bind whose submounts are read-only too. runc
   * makes it with mount_setattr(2) and AT_RECURSIVE when a mount has the
   * `rro` option, which it lists in `features` from 1.1 on.
   */
  readonly recursiveReadOnlyMounts: FeatureSupport;
}

/** Runs `<binary> features` and gives its standard output. */
export type FeaturesCommand = (binary: string) => Promise<string>;

const run = promisify(execFile);
/** `runc features` answers in a few milliseconds; a runtime that hangs must not hold the feature unknown forever. */
const FEATURES_TIMEOUT_MS = 10_000;

const runFeatures: FeaturesCommand = async (binary) => (await run(binary, ['features'], { timeout: FEATURES_TIMEOUT_MS })).stdout;

/** mount_setattr(2), through which runc applies `rro`, came with Linux 5.12; containerd decides by the release as well. */
export function kernelRecursiveReadOnly(kernelRelease: string): FeatureSupport {
  const version = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (version === null) return { available: false, reason: `cannot read the kernel release "${kernelRelease}"` };
  const [major, minor] = [Number(version[1]), Number(version[2])];
  if (major > 5 || (major === 5 && minor >= 12)) return { available: true };
  return { available: false, reason: `kernel ${kernelRelease} has no mount_setattr(2) (needs Linux 5.12)` };
}

/** One handler's features: what its `features` output lists, and only what the kernel allows too. */
export async function probeHandlerFeatures(
  binary: string,
  kernel: FeatureSupport,
  features: FeaturesCommand = runFeatures,
): Promise<HandlerFeatures> {
  let mountOptions: readonly string[];
  try {
    mountOptions = mountOptionsOf(await features(binary));
  } catch (error) {
    const failure = error as Error & { stderr?: string; killed?: boolean };
    const cause = failure.killed ? `no answer in ${FEATURES_TIMEOUT_MS / 1000} s` : (failure.stderr?.trim() || failure.message).split('\n')[0];
    return { recursiveReadOnlyMounts: { available: false, reason: `\`${binary} features\` failed: ${cause}` } };
  }
  if (!mountOptions.includes('rro')) {
    return {
      recursiveReadOnlyMounts: { available: false, reason: `\`${binary} features\` does not list the rro mount option (runc has it from 1.1)` },
    };
  }
  return { recursiveReadOnlyMounts: kernel };
}

function mountOptionsOf(output: string): readonly string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    throw new Error('its output is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new Error('its output is not a JSON object');
  const options = (parsed as { mountOptions?: unknown }).mountOptions;
  // A runtime that leaves mountOptions out says nothing about them (features.md): none is assumed.
  if (options === undefined) return [];
  if (!Array.isArray(options) || !options.every((option) => typeof option === 'string')) throw new Error('its mountOptions is not a list of strings');
  return options;
}

const NOT_INSTALLED: HandlerFeatures = { recursiveReadOnlyMounts: { available: false, reason: 'the runtime is not installed' } };

/**
 * Every configured handler's features, probed once: the probes start when
 * the table is made and are not awaited there, so the daemon's start does
 * not wait on them; Status and CreateContainer await the one they need.
 */
export class HandlerFeatureTable {
  private readonly probes = new Map<string, Promise<HandlerFeatures>>();

  constructor(handlers: readonly OciHandler[], kernelRelease: string, features: FeaturesCommand = runFeatures) {
    const kernel = kernelRecursiveReadOnly(kernelRelease);
    for (const handler of handlers) {
      this.probes.set(
        handler.name,
        handler.binary === null ? Promise.resolve(NOT_INSTALLED) : probeHandlerFeatures(handler.binary, kernel, features),
      );
    }
  }

  /** The features of a configured handler; a handler crion was not started with has none. */
  of(name: string): Promise<HandlerFeatures> {
    return (
      this.probes.get(name) ??
      Promise.resolve({ recursiveReadOnlyMounts: { available: false, reason: `runtime handler "${name}" is not configured` } })
    );
  }

  /** For the start's log line and `crictl info`: every handler's features once probed. */
  async all(): Promise<Record<string, HandlerFeatures>> {
    return Object.fromEntries(await Promise.all([...this.probes].map(async ([name, probe]) => [name, await probe] as const)));
  }
}
