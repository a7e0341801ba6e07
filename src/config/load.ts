import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, TomlError, type TomlTable } from 'smol-toml';
import { ConfigError } from './config-error.js';
import type { CrionConfig } from './crion-config.js';
import { layerFromToml, resolveConfig, type ConfigLayer, type ConfigOverrides } from './resolve.js';

export interface ConfigSources {
  readonly configFile: string;
  readonly configDir: string;
  /** The file was named on the command line, so its absence is an error rather than "no file". */
  readonly fileExplicit: boolean;
}

export interface LoadedConfig {
  readonly config: CrionConfig;
  /** Files that were read, in the order they were applied; for the startup and reload log. */
  readonly files: readonly string[];
}

/**
 * Reads the config file, then each drop-in, then applies the overrides. Call
 * it again with the same arguments on SIGHUP: the files are re-read and the
 * flags still win.
 */
export async function loadConfig(sources: ConfigSources, overrides: ConfigOverrides): Promise<LoadedConfig> {
  const files: string[] = [];
  const layers: ConfigLayer[] = [];
  const read = async (file: string, mustExist: boolean): Promise<void> => {
    const text = await readText(file, mustExist);
    if (text === null) return;
    files.push(file);
    layers.push(layerFromToml(file, parseToml(file, text)));
  };
  await read(sources.configFile, sources.fileExplicit);
  for (const file of await dropIns(sources.configDir)) await read(file, true);
  return { config: resolveConfig([...layers, ...overrides]), files };
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Null when the file is absent and may be. */
export async function readText(file: string, mustExist: boolean): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' && !mustExist) return null;
    throw new ConfigError(file, null, code === 'ENOENT' ? 'no such file' : `cannot read (${code})`, { cause: error });
  }
}

/** `*.conf` in code-unit order, which is what `ls` shows under LC_ALL=C, so "10-" sorts after "09-". */
export async function dropIns(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names
      .filter((name) => name.endsWith('.conf'))
      .sort()
      .map((name) => join(dir, name));
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return [];
    throw new ConfigError(dir, null, `cannot list the directory (${code})`, { cause: error });
  }
}

export function parseToml(file: string, text: string): TomlTable {
  try {
    return parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const problem = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(file, null, `invalid TOML at line ${error.line}, column ${error.column}: ${problem}`, {
      cause: error,
    });
  }
}
