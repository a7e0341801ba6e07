import { readFile } from 'node:fs/promises';

/**
 * Reading and parsing cgroup interface files, shared by the CRI stats
 * (cgroup-usage.ts) and the cAdvisor metrics (cgroup-detail.ts).
 */

/** The kernel rounds "no limit" down from 2^63 to a page multiple; containerd treats anything above 2^62 as unlimited too. */
const UNLIMITED_FROM = 1n << 62n;

/** A cgroup file's text, or null when the cgroup or the file is not there (ENODEV: the cgroup went away while open). */
export async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV') return null;
    throw error;
  }
}

/** A file holding one unsigned number; anything else (`max`, `-1`, a missing file) is null. */
export function parseCounter(text: string | null): bigint | null {
  const trimmed = text?.trim();
  return trimmed !== undefined && /^\d+$/.test(trimmed) ? BigInt(trimmed) : null;
}

/** `max` (v2) and the kernel's rounded maximum (v1) both mean no limit. */
export function parseLimit(text: string | null): bigint | null {
  const limit = parseCounter(text);
  return limit === null || limit >= UNLIMITED_FROM ? null : limit;
}

/** The `key value` lines of memory.stat, cpu.stat, memory.events…; lines that are not a key and a number are skipped. */
export function flatKeyed(text: string | null): Map<string, bigint> | null {
  if (text === null) return null;
  const entries = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const match = /^(\S+) (\d+)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) entries.set(match[1], BigInt(match[2]));
  }
  return entries;
}
