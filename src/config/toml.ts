import { stringify, type TomlTable } from 'smol-toml';

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * The dotted key for a path. Segments that are not bare keys (a handler
 * named "kata.v2") are quoted, so the key reads back as the same path.
 */
export function tomlKey(path: readonly string[]): string {
  return path.map((segment) => (BARE_KEY.test(segment) ? segment : JSON.stringify(segment))).join('.');
}

/**
 * A value as it would be written on the right of `=`. Values read from a file
 * carry integers as bigint, so their plain numbers are floats and must show as
 * such (`6.0`) for a "expected an integer" message to make sense.
 */
export function tomlLiteral(value: unknown, options: { numbersAsFloat?: boolean } = {}): string {
  return stringify({ v: value }, options).slice('v = '.length).trimEnd();
}

export function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
