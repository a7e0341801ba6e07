/**
 * The base of critest's busybox stand-in: Debian's dynamically linked busybox, its applets,
 * and the glibc files it loads, copied from the host. Its shell looks commands up on PATH and
 * executes them, as the official busybox image's shell does; busybox-static's runs its applets
 * in-process instead, so a masked /bin/ls (critest's MaskedPaths spec expects
 * `/bin/sh: ls: Permission denied`) would go unnoticed. Debian's `busybox` package conflicts
 * with `busybox-static`, so scripts/setup.sh unpacks it into the cache rather than installing it.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxRootfsEntries } from './busybox-rootfs.js';
import { parentDirEntries, type TarEntry } from './tar-writer.js';

/** Where scripts/setup.sh unpacks the package. */
export const DYNAMIC_BUSYBOX = path.join(os.homedir(), '.cache', 'crion', 'busybox-dynamic', 'bin', 'busybox');

const INSTALL_HINT = "run scripts/setup.sh, which unpacks Debian's busybox package there";

let cached: TarEntry[] | undefined;

/** The rootfs entries; read once per process. */
export function dynamicBusyboxEntries(): TarEntry[] {
  cached ??= [...busyboxRootfsEntries(DYNAMIC_BUSYBOX, INSTALL_HINT), ...sharedLibraries(DYNAMIC_BUSYBOX)];
  return cached;
}

/** The loader and libraries `ldd` resolves for the binary, at the same paths, with their parent directories. */
function sharedLibraries(binary: string): TarEntry[] {
  const listing = execFileSync('ldd', [binary], { encoding: 'utf8' });
  // `\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and `\t/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has no path.
  const files = [...listing.matchAll(/(?:=> |^\s*)(\/\S+) \(0x[0-9a-f]+\)/gm)].map((match) => match[1]!.slice(1));
  if (!files.some((file) => file.includes('libc.so'))) throw new Error(`ldd found no libc for ${binary}:\n${listing}`);
  return [
    ...parentDirEntries(files),
    // readFileSync follows the host's symlinks (/lib64/ld-linux… → the loader): the image gets plain files.
    ...files.map((file): TarEntry => ({ type: 'file', path: file, mode: 0o755, content: readFileSync(`/${file}`) })),
  ];
}
