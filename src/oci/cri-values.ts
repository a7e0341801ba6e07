import { InvalidArgumentError } from '../errors.js';

/**
 * CRI int64 fields arrive as decimal strings (the loader's `longs: String`).
 * config.json is written from JS numbers, so a value is accepted only when a
 * double holds it exactly; every limit the kubelet sends fits (memory up to
 * 8 PiB), and anything larger is refused by name rather than rounded.
 */
export function int64Field(value: string, field: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${field}: "${value}" is not an integer`);
  const big = BigInt(value);
  if (big < BigInt(min) || big > BigInt(max)) {
    throw new InvalidArgumentError(`${field}: ${value} is outside ${min}..${max}`);
  }
  return Number(big);
}

/** runc refuses IDs above 2^31-1, though the kernel would take up to 2^32-2. */
export const MAX_ID = 2 ** 31 - 1;
