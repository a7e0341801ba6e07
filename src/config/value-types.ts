import { isIP, isIPv4 } from 'node:net';
import { posix } from 'node:path';
import { isTable, tomlLiteral } from './toml.js';

/** A value type's verdict: the value in its config form, or why it was refused. */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/**
 * What a setting accepts. Files and flags go through the same `fromToml`
 * check; a flag's text is first turned into the TOML value it stands for.
 */
export interface ValueType<T> {
  /** Noun phrase for comments and errors: "an absolute path". */
  readonly description: string;
  /** Flag argument name in help: `--root <path>`. */
  readonly placeholder: string;
  /** What a flag given without a value means; absent when the flag needs one. */
  readonly impliedFlagValue?: string;
  /** Checks a value as parsed from TOML (integers as bigint) and returns its config form. */
  fromToml(value: unknown): Checked<T>;
  /** The TOML value a flag's text stands for: "6" → 6n, "a,b" → ["a", "b"]. */
  tomlFromFlag(text: string): unknown;
}

function accepted<T>(value: T): Checked<T> {
  return { ok: true, value };
}

function refused<T>(description: string, value: unknown): Checked<T> {
  return { ok: false, reason: `expected ${description}, got ${describeTomlValue(value)}` };
}

function describeTomlValue(value: unknown): string {
  if (isTable(value)) return 'a table';
  if (Array.isArray(value) && value.some(isTable)) return 'an array of tables';
  return tomlLiteral(value, { numbersAsFloat: true });
}

/** A type whose TOML value is already its config value, so checking it is a type guard. */
function guarded<T>(spec: {
  description: string;
  placeholder: string;
  accepts: (value: unknown) => value is T;
  tomlFromFlag?: (text: string) => unknown;
  impliedFlagValue?: string;
}): ValueType<T> {
  const { description, placeholder, accepts, tomlFromFlag = (text) => text, impliedFlagValue } = spec;
  return {
    description,
    placeholder,
    impliedFlagValue,
    fromToml: (value) => (accepts(value) ? accepted(value) : refused(description, value)),
    tomlFromFlag,
  };
}

export function stringMatching(description: string, placeholder: string, isValid: (value: string) => boolean): ValueType<string> {
  return guarded({
    description,
    placeholder,
    accepts: (value): value is string => typeof value === 'string' && isValid(value),
  });
}

/** A string whose config form is its canonical spelling; `canonical` returns null for a value it refuses. */
export function stringCanonical(description: string, placeholder: string, canonical: (value: string) => string | null): ValueType<string> {
  return {
    description,
    placeholder,
    fromToml: (value) => {
      const checked = typeof value === 'string' ? canonical(value) : null;
      return checked === null ? refused(description, value) : accepted(checked);
    },
    tomlFromFlag: (text) => text,
  };
}

export const absolutePath = stringMatching('an absolute path', 'path', (value) => posix.isAbsolute(value));

export const absolutePathOrEmpty = stringMatching('an absolute path, or "" for none', 'path', (value) => value === '' || posix.isAbsolute(value));

export const ipAddress = stringMatching('an IPv4 or IPv6 address', 'address', (value) => isIP(value) !== 0);

/** A TCP listen address: an IP literal (IPv6 in brackets) and a port, "127.0.0.1:9090" or "[::1]:9090". */
export const hostPort = stringMatching('an IP address and a port, such as "127.0.0.1:9090" or "[::1]:9090"', 'host:port', (value) => {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (match === null || Number(match[3]) < 1 || Number(match[3]) > 65535) return false;
  return match[1] === undefined ? isIPv4(match[2]!) : isIP(match[1]) === 6;
});

export const cidr = stringMatching('an IPv4 or IPv6 CIDR such as "10.88.0.0/16"', 'cidr', (value) => {
  const [address = '', prefix, ...rest] = value.split('/');
  if (prefix === undefined || rest.length > 0 || !/^\d{1,3}$/.test(prefix) || isIP(address) === 0) return false;
  return Number(prefix) <= (isIPv4(address) ? 32 : 128);
});

export function oneOf<const V extends string>(values: readonly V[]): ValueType<V> {
  return guarded({
    description: `one of ${values.map((value) => JSON.stringify(value)).join(', ')}`,
    placeholder: values.join('|'),
    accepts: (value): value is V => values.includes(value as V),
  });
}

/** Integers arrive from smol-toml as bigint, so a float such as `6.0` is refused rather than truncated. */
export function integer(min: number, max: number): ValueType<number> {
  const description = `an integer from ${min} to ${max}`;
  return {
    description,
    placeholder: 'n',
    fromToml: (value) =>
      typeof value === 'bigint' && value >= BigInt(min) && value <= BigInt(max) ? accepted(Number(value)) : refused(description, value),
    tomlFromFlag: (text) => (/^[+-]?\d+$/.test(text) ? BigInt(text) : text),
  };
}

function booleanFromFlag(text: string): unknown {
  return text === 'true' ? true : text === 'false' ? false : text;
}

export const boolean = guarded({
  description: 'true or false',
  placeholder: 'bool',
  accepts: (value): value is boolean => typeof value === 'boolean',
  tomlFromFlag: booleanFromFlag,
  impliedFlagValue: 'true',
});

/** A tri-state where "auto" lets the daemon decide from what it finds on the host. */
export const autoOrBoolean = guarded({
  description: '"auto", true or false',
  placeholder: 'auto|true|false',
  accepts: (value): value is 'auto' | boolean => value === 'auto' || typeof value === 'boolean',
  tomlFromFlag: booleanFromFlag,
});

/** On the command line a list is comma-separated, and "" is the empty list. */
export function list(item: ValueType<string>): ValueType<readonly string[]> {
  const description = `an array of strings, each ${item.description}`;
  return {
    description,
    placeholder: `${item.placeholder},...`,
    fromToml: (value) => {
      if (!Array.isArray(value)) return refused(description, value);
      const items: string[] = [];
      for (const [index, element] of value.entries()) {
        const checked = item.fromToml(element);
        if (!checked.ok) return { ok: false, reason: `item ${index}: ${checked.reason}` };
        items.push(checked.value);
      }
      return accepted(items);
    },
    tomlFromFlag: (text) => (text === '' ? [] : text.split(',').map((part) => item.tomlFromFlag(part))),
  };
}

/** Checks a flag's text exactly as the same value would be checked in a file. */
export function fromFlag<T>(type: ValueType<T>, text: string): Checked<T> {
  return type.fromToml(type.tomlFromFlag(text));
}
