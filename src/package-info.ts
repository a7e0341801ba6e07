import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's root, found here only: compiled code runs from
 * dist/src/, and the daemon needs files that ship beside it (package.json,
 * proto/, the addon and crion-monitor in npm/linux-x64-gnu/). Walking up to
 * the package.json works from any depth, where a fixed `../..` would not.
 */
export const packageRoot: string = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

export const packageVersion: string = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'crion') return dir;
    } catch {
      // No readable package.json here; keep walking up.
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find crion's package.json above ${start}`);
    }
  }
}

/**
 * The cri-api release the vendored CRI proto comes from ("k8s.io/cri-api v0.37.2"), as
 * `scripts/update-cri-proto.sh` records it; proto/VERSION also names the NRI proto's release on a line of its own.
 */
export function criApiVersion(): string {
  const lines = readFileSync(path.join(packageRoot, 'proto/VERSION'), 'utf8').split('\n');
  return lines.find((line) => line.startsWith('k8s.io/cri-api ')) ?? lines[0]!.trim();
}
