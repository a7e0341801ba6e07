import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Daemons leave mounts behind on purpose (crion's private `state/pods`
 * bind mount, a containerd killed mid-unpack), and a directory holding a
 * mount cannot be removed. Synchronous, so the exit handler can use it too.
 */
export function unmountUnder(directory: string): void {
  const prefix = `${path.resolve(directory)}/`;
  // Deepest first: a mount on top of another hides it until removed.
  const mountPoints = mountedPaths()
    .filter((mountPoint) => `${mountPoint}/`.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mountPoints) {
    // Lazy: a mount still in use (a process not yet reaped) is detached now and freed when idle.
    execFileSync('umount', ['--lazy', mountPoint]);
  }
}

/** Field 5 of mountinfo(5), with its octal escapes (`\040` for a space) decoded. */
function mountedPaths(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}
