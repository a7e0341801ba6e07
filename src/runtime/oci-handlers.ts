import { findExecutable } from './executable.js';

export interface HandlerSetting {
  readonly path: string;
  readonly root: string;
}

/** A configured OCI runtime handler (runc, crun, runsc…) as found on this host. */
export interface OciHandler {
  readonly name: string;
  readonly configuredPath: string;
  /** Absolute path of the runtime binary, or null when it is not installed. */
  readonly binary: string | null;
  readonly root: string;
}

export async function resolveOciHandlers(settings: Readonly<Record<string, HandlerSetting>>): Promise<OciHandler[]> {
  return Promise.all(
    Object.entries(settings).map(async ([name, setting]) => ({
      name,
      configuredPath: setting.path,
      binary: await findExecutable(setting.path),
      root: setting.root,
    })),
  );
}
