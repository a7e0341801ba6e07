import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** A path component that exists and is not a directory, so nothing can be made below it. */
export class NotADirectoryError extends Error {
  readonly code = 'ENOTDIR';

  constructor(readonly path: string) {
    super(`${path} is not a directory`);
  }
}

/**
 * `mkdir -p`, one component at a time from the root: at most one mkdir and
 * one stat per component, where Node 20's recursive mkdir can retry forever
 * on a filesystem that answers in a way it does not expect (/proc spins the
 * event loop at 100 % CPU). Returns the first directory it made, as
 * `mkdir(…, { recursive: true })` does, or undefined when all existed.
 */
export async function makeDirectories(dir: string, mode = 0o755): Promise<string | undefined> {
  const absolute = path.resolve(dir);
  let current = path.parse(absolute).root;
  let first: string | undefined;
  for (const component of absolute.split(path.sep).filter((part) => part !== '')) {
    current = path.join(current, component);
    const made = await mkdir(current, { mode }).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
        return false;
      },
    );
    if (made) {
      first ??= current;
    } else if (!(await stat(current)).isDirectory()) {
      throw new NotADirectoryError(current);
    }
  }
  return first;
}
