import { InvalidArgumentError } from '../errors.js';

/**
 * A configuration problem, pinned to where it came from so an operator can
 * fix it without guessing: `source` is a file path or a flag (`--log-level`),
 * `key` the full dotted TOML key, null when the problem is the whole source
 * (a missing file, a TOML syntax error).
 */
export class ConfigError extends InvalidArgumentError {
  constructor(
    readonly source: string,
    readonly key: string | null,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(key === null ? `${source}: ${reason}` : `${source}: ${key}: ${reason}`, options);
  }
}
