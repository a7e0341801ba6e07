import { createHash } from 'node:crypto';
import { renderConfig, type CrionConfig } from '../config/index.js';
import type { HostProbe } from '../native/index.js';
import type { NetworkReadiness } from '../network/pod-networks.js';
import { criApiVersion, packageVersion } from '../package-info.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import type { RuntimeVersion } from '../runtime/handler-version.js';
import type { OciHandler } from '../runtime/oci-handlers.js';

/**
 * `GET /info`: what an operator compares between nodes or attaches to a bug
 * report, in one document: every version involved, a digest of the
 * effective configuration, what the host offers, where the daemon keeps
 * things, and the pod network it would use now.
 */

/** What the document is built from; the daemon passes what it resolved at start and getters for what may change. */
export interface InfoSource {
  /** The configuration in effect, which SIGHUP may change. */
  readonly config: () => CrionConfig;
  readonly hostProbe: HostProbe;
  readonly cgroupDriver: CgroupDriver;
  /** The handlers as resolved at start, which are the ones containers run with. */
  readonly handlers: readonly OciHandler[];
  readonly runtimeVersion: (binary: string) => Promise<RuntimeVersion>;
  readonly defaultNetwork: () => Promise<{ readonly name: string; readonly file: string } | null>;
  readonly networkReadiness: () => Promise<NetworkReadiness>;
}

export interface HandlerInfo {
  readonly name: string;
  readonly default: boolean;
  readonly configuredPath: string;
  /** Null when the runtime is not installed, and then so is its version. */
  readonly binary: string | null;
  readonly root: string;
  /** `<binary> --version`, all of it; null with `versionError` saying why when it cannot be had. */
  readonly version: string | null;
  readonly versionError: string | null;
}

export interface InfoDocument {
  readonly versions: { readonly crion: string; readonly criApi: string; readonly node: string; readonly kernel: string };
  readonly runtimeHandlers: readonly HandlerInfo[];
  /** sha256 of the effective configuration as `crion config` renders it: equal digests, equal configurations. */
  readonly configDigest: string;
  readonly hostProbe: HostProbe;
  readonly cgroupDriver: CgroupDriver;
  readonly root: string;
  readonly state: string;
  readonly listen: string;
  readonly network: {
    readonly defaultNetwork: { readonly name: string; readonly file: string } | null;
    readonly ready: boolean;
    /** Why not, when it is not ready. */
    readonly message: string;
  };
}

export async function infoDocument(source: InfoSource): Promise<InfoDocument> {
  const config = source.config();
  const [runtimeHandlers, defaultNetwork, readiness] = await Promise.all([
    Promise.all(source.handlers.map((handler) => handlerInfo(source, handler, config.runtime.defaultHandler))),
    source.defaultNetwork(),
    source.networkReadiness(),
  ]);
  return {
    versions: { crion: packageVersion, criApi: criApiVersion(), node: process.version, kernel: source.hostProbe.kernelRelease },
    runtimeHandlers,
    configDigest: configDigest(config),
    hostProbe: source.hostProbe,
    cgroupDriver: source.cgroupDriver,
    root: config.root,
    state: config.state,
    listen: config.listen,
    network: { defaultNetwork, ready: readiness.ready, message: readiness.message },
  };
}

export function configDigest(config: CrionConfig): string {
  return `sha256:${createHash('sha256').update(renderConfig(config)).digest('hex')}`;
}

async function handlerInfo(source: InfoSource, handler: OciHandler, defaultHandler: string): Promise<HandlerInfo> {
  const version = handler.binary === null ? { version: null, error: 'the runtime is not installed' } : await source.runtimeVersion(handler.binary);
  return {
    name: handler.name,
    default: handler.name === defaultHandler,
    configuredPath: handler.configuredPath,
    binary: handler.binary,
    root: handler.root,
    version: version.version,
    versionError: version.error,
  };
}
