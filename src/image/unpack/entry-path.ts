import { LayerUnpackError } from './layer-unpack-error.js';
import type { ByteString } from './tar-reader.js';

/**
 * The first line of confinement: a tar name becomes a path relative to the
 * destination, or the layer is refused. Absolute names and `..` components
 * are refused outright rather than cleaned (as GNU tar would), since no
 * honest layer contains them. `./`, `.` components and repeated or trailing
 * slashes are dropped; the destination itself is the empty path. The second
 * line, no write through a symlink, needs the file system and lives in the
 * layer writer.
 */
export function confinedPath(name: ByteString, what: string): ByteString {
  if (name.startsWith('/')) throw new LayerUnpackError('path-escape', `${what} ${display(name)} is absolute`);
  const components = name.split('/').filter((component) => component !== '' && component !== '.');
  if (components.includes('..')) throw new LayerUnpackError('path-escape', `${what} ${display(name)} climbs out with ".."`);
  return components.join('/');
}

/** A byte-string path for messages; bytes that are not UTF-8 show as U+FFFD. */
export function display(path: ByteString): string {
  return JSON.stringify(Buffer.from(path, 'latin1').toString('utf8'));
}
