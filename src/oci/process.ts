import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { KeyValue__Output } from '../generated/runtime/v1/KeyValue.js';
import type { ContainerDefaults } from '../image/manifest.js';

/** What a container runs: the command line, its environment and its working directory. */

/**
 * Docker's rules, which the kubelet documents for command/args: a CRI
 * command replaces the image's ENTRYPOINT and drops its CMD; CRI args alone
 * replace CMD and keep ENTRYPOINT. An ENTRYPOINT of `[""]` is how an image
 * says "no entrypoint".
 */
export function processArgs(command: readonly string[], args: readonly string[], image: ContainerDefaults): string[] {
  let resolved: string[];
  if (command.length > 0) {
    resolved = [...command, ...args];
  } else {
    const entrypoint = image.entrypoint?.length === 1 && image.entrypoint[0] === '' ? [] : (image.entrypoint ?? []);
    resolved = [...entrypoint, ...(args.length > 0 ? args : (image.cmd ?? []))];
  }
  if (resolved.length === 0) {
    throw new InvalidArgumentError('no command: the container config sets neither command nor args, and the image has no ENTRYPOINT or CMD');
  }
  return resolved;
}

/** runc looks the command up in this PATH when the image sets none. */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvironmentInput {
  readonly hostname: string;
  readonly tty: boolean;
  readonly image: readonly string[];
  readonly requested: readonly KeyValue__Output[];
}

/**
 * Later sources win by variable name, keeping the first position: the
 * defaults (PATH, TERM for a terminal, HOSTNAME), then the image's ENV,
 * then the CRI envs, as containerd layers them.
 */
export function processEnv(input: EnvironmentInput): string[] {
  const env = new Map<string, string>();
  const set = (entry: string): void => {
    env.set(entry.slice(0, entry.indexOf('=')), entry);
  };
  set(DEFAULT_PATH);
  if (input.tty) set('TERM=xterm');
  set(`HOSTNAME=${input.hostname}`);
  // An entry without `=` is not a variable; runc would refuse the whole spec for it.
  for (const entry of input.image) if (entry.indexOf('=') > 0) set(entry);
  input.requested.forEach((pair, i) => {
    if (pair.key === '' || pair.key.includes('=')) {
      throw new InvalidArgumentError(`envs[${i}].key "${pair.key}" is not a variable name`);
    }
    const value = pair.value.toString('utf8');
    if (pair.key.includes('\0') || value.includes('\0')) {
      throw new InvalidArgumentError(`envs[${i}] (${pair.key}) contains a NUL byte, which an environment cannot hold`);
    }
    set(`${pair.key}=${value}`);
  });
  return [...env.values()];
}

export function processCwd(workingDir: string, imageWorkingDir: string): string {
  const cwd = workingDir !== '' ? workingDir : imageWorkingDir !== '' ? imageWorkingDir : '/';
  if (!path.posix.isAbsolute(cwd)) {
    throw new InvalidArgumentError(`${workingDir !== '' ? 'working_dir' : "the image's WorkingDir"} "${cwd}" is not an absolute path`);
  }
  return cwd;
}
