import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';

/**
 * A container's log_path is relative to its pod's log_directory, and stays
 * inside it: `../../x` would let a client write a file anywhere the daemon can.
 */
export function containerLogPath(logDirectory: string, logPath: string): string {
  if (logDirectory === '' || logPath === '') return '';
  const field = `log_path ${JSON.stringify(logPath)}`;
  if (path.isAbsolute(logPath)) throw new InvalidArgumentError(`${field} must be relative to the pod's log_directory`);
  if (logPath.split('/').some((component) => component === '..' || component === '.' || component === '')) {
    throw new InvalidArgumentError(`${field} may not contain empty, "." or ".." components`);
  }
  return path.join(logDirectory, logPath);
}
