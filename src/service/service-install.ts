import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultConfig, loadConfig, renderConfig } from '../config/index.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { makeDirectories } from '../fs/make-directories.js';
import { systemdRunning } from '../runtime/cgroup-driver.js';
import { kubeletSettings, type KubeletSettings } from './kubelet-settings.js';
import { isCrionUnit, renderUnit, UNIT_MARKER, UNIT_NAME } from './systemd-unit.js';

/**
 * `crion install-service` and `crion uninstall-service`: the unit and the
 * config file, as a package's files and maintainer scripts would leave them.
 */

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

/** systemd as install and uninstall see it; tests pass a recording one. */
export interface ServiceHost {
  systemdRunning(): Promise<boolean>;
  systemctl(args: readonly string[]): Promise<void>;
}

const run = promisify(execFile);

export const SYSTEM_HOST: ServiceHost = {
  systemdRunning,
  systemctl: async (args) => {
    try {
      await run('systemctl', [...args]);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`systemctl ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: error });
    }
  },
};

/** A crion.service that crion did not write: someone else's, never replaced or removed. */
export class ForeignUnitError extends Error {
  override name = 'ForeignUnitError';

  constructor(unitFile: string, refused: string) {
    super(`${unitFile} was not written by crion (it lacks the line "${UNIT_MARKER}"); refusing to ${refused} it`);
  }
}

export interface InstallOptions {
  readonly unitDir: string;
  readonly configFile: string;
  readonly configDir: string;
  /** The command line up to the daemon's arguments, absolute paths only: systemd has no PATH of the caller's. */
  readonly command: readonly string[];
}

export interface InstallResult {
  readonly unitFile: string;
  readonly unit: 'written' | 'unchanged';
  readonly configFile: string;
  /** `kept`: a config file existed and is never overwritten, as a package manager keeps a changed conffile. */
  readonly config: 'written' | 'kept';
  /** Whether `systemctl daemon-reload` ran; it runs only where systemd does. */
  readonly reloaded: boolean;
  readonly kubelet: KubeletSettings;
}

export async function installService(options: InstallOptions, host: ServiceHost = SYSTEM_HOST): Promise<InstallResult> {
  const unitFile = path.join(options.unitDir, UNIT_NAME);
  const existing = await readOptional(unitFile);
  if (existing !== null && !isCrionUnit(existing)) throw new ForeignUnitError(unitFile, 'replace');

  const config = (await writeDefaultConfig(options.configFile)) ? 'written' : 'kept';
  // As the daemon will read them, so a kept file or a drop-in it would refuse fails here, before any unit names it.
  const loaded = await loadConfig({ configFile: options.configFile, configDir: options.configDir, fileExplicit: true }, []);

  const text = renderUnit(options);
  const unit = existing === text ? 'unchanged' : 'written';
  if (unit === 'written') {
    await makeDirectories(options.unitDir);
    await writeFileAtomic(unitFile, text, 0o644);
  }
  const reloaded = await host.systemdRunning();
  if (reloaded) await host.systemctl(['daemon-reload']);
  return { unitFile, unit, configFile: options.configFile, config, reloaded, kubelet: await kubeletSettings(loaded.config) };
}

export interface UninstallOptions {
  readonly unitDir: string;
  readonly configFile: string;
  /** Also remove the config file, as a package manager's purge removes conffiles. */
  readonly purge: boolean;
}

export interface UninstallResult {
  readonly unitFile: string;
  readonly unit: 'removed' | 'absent';
  /** Whether systemctl stopped and disabled the service and reloaded; only where systemd runs. */
  readonly systemd: boolean;
  readonly configFile: string;
  readonly config: 'kept' | 'removed' | 'absent';
}

/**
 * Stops the daemon (its containers keep running, KillMode=process) and
 * removes the unit; pods, containers and images stay in root and state.
 */
export async function uninstallService(options: UninstallOptions, host: ServiceHost = SYSTEM_HOST): Promise<UninstallResult> {
  const unitFile = path.join(options.unitDir, UNIT_NAME);
  const existing = await readOptional(unitFile);
  if (existing !== null && !isCrionUnit(existing)) throw new ForeignUnitError(unitFile, 'remove');

  const systemd = existing !== null && (await host.systemdRunning());
  // Before the file goes: disabling reads its [Install] section to find the links to remove.
  if (systemd) await host.systemctl(['disable', '--now', UNIT_NAME]);
  if (existing !== null) await rm(unitFile, { force: true });
  if (systemd) await host.systemctl(['daemon-reload']);

  const config = options.purge ? await removeFile(options.configFile) : 'kept';
  return { unitFile, unit: existing === null ? 'absent' : 'removed', systemd, configFile: options.configFile, config };
}

/** Writes the defaults unless the file exists; `wx` so that a file made meanwhile is not overwritten either. */
async function writeDefaultConfig(file: string): Promise<boolean> {
  await makeDirectories(path.dirname(file));
  try {
    await writeFile(file, renderConfig(defaultConfig()), { flag: 'wx', mode: 0o644 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function removeFile(file: string): Promise<'removed' | 'absent'> {
  try {
    await rm(file);
    return 'removed';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
