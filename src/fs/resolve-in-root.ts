import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * A path below `root` resolved as a process chrooted to `root` would see it,
 * for a path a client names inside a tree that is not the host's (an image):
 * every symbolic link is followed one component at a time, an absolute link
 * target starts again at `root`, not at the host's `/`. Unlike a chroot,
 * where `..` stops at the root, a `..` that would climb above `root`, from
 * the path or from a link, is refused: such a path was meant for some other
 * tree, and silently clamping it would give the client a directory it did
 * not ask for. The answer names a path with no symbolic link left in it, so
 * handing it to the kernel cannot lead elsewhere, as long as the tree does
 * not change (crion resolves only in read-only image mounts).
 */

export type ResolvedInRoot =
  | { readonly kind: 'found'; readonly path: string }
  /** A `..` would leave `root`. */
  | { readonly kind: 'escapes' }
  /** `missing` is the first component, as the tree names it below `root`, that does not exist or is not a directory. */
  | { readonly kind: 'missing'; readonly missing: string }
  /** More links than the kernel follows in one lookup: a loop, or a chain made to look like one. */
  | { readonly kind: 'too-many-links' };

/** Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

export async function resolveInRoot(root: string, name: string): Promise<ResolvedInRoot> {
  const pending = components(name);
  let resolved: string[] = [];
  let links = 0;
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    if (next === '..') {
      if (resolved.length === 0) return { kind: 'escapes' };
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, next);
    const stats = await lstat(candidate).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw error;
    });
    if (stats === null) return { kind: 'missing', missing: [...resolved, next].join('/') };
    if (stats.isSymbolicLink()) {
      if (++links > MAX_LINKS) return { kind: 'too-many-links' };
      const target = await readlink(candidate);
      if (path.posix.isAbsolute(target)) resolved = [];
      pending.unshift(...components(target));
      continue;
    }
    // Only a directory has anything below it.
    if (pending.length > 0 && !stats.isDirectory()) return { kind: 'missing', missing: [...resolved, next, pending[0]].join('/') };
    resolved.push(next);
  }
  return { kind: 'found', path: path.join(root, ...resolved) };
}

function components(name: string): string[] {
  return name.split('/').filter((component) => component !== '' && component !== '.');
}
