import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Resolves a configured program the way a shell would: a name with a slash
 * is taken as it is, a bare name is searched on PATH. Returns the absolute
 * path of the first executable regular file, or null.
 */
export async function findExecutable(program: string, searchPath = process.env.PATH ?? ''): Promise<string | null> {
  const candidates = program.includes('/')
    ? [path.resolve(program)]
    : searchPath
        .split(':')
        .filter((dir) => dir !== '')
        .map((dir) => path.resolve(dir, program));
  for (const candidate of candidates) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
