import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OciSpec } from '../oci/index.js';

/**
 * A container's OCI bundle: `config.json` beside the rootfs mount point, in
 * the container's runtime directory. The spec is written at create, patched
 * by resource updates, and read back for the verbose status, the cgroup
 * path and the orphan sweep.
 */

/**
 * Null when the bundle has no whole spec: gone, never written, or cut
 * short by a daemon that died writing it (the monitor, started only after
 * the write, never saw such a bundle).
 */
export async function readBundleSpec(bundleDir: string): Promise<OciSpec | null> {
  const text = await readFile(path.join(bundleDir, 'config.json'), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
    throw error;
  });
  if (text === null) return null;
  try {
    return JSON.parse(text) as OciSpec;
  } catch {
    return null;
  }
}

export async function writeBundleSpec(bundleDir: string, spec: OciSpec): Promise<void> {
  await writeFile(path.join(bundleDir, 'config.json'), JSON.stringify(spec));
}
