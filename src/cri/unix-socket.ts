import { connect } from 'node:net';
import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** Raised when the daemon cannot take its socket; the message is meant for the operator. */
export class SocketClaimError extends Error {
  override name = 'SocketClaimError';
}

const UNIX_SCHEME = 'unix://';

/**
 * The one reading of a socket endpoint, for the daemon's `listen` and the
 * CLI's endpoint alike: `unix:///run/crion/crion.sock`, or the bare absolute
 * path, which crictl also takes. The canonical `unix://` form, or null.
 */
export function unixEndpoint(text: string): string | null {
  const socketPath = text.startsWith(UNIX_SCHEME) ? text.slice(UNIX_SCHEME.length) : text;
  return path.posix.isAbsolute(socketPath) ? `${UNIX_SCHEME}${socketPath}` : null;
}

/**
 * `unix:///run/crion/crion.sock` → `/run/crion/crion.sock`, for an endpoint
 * from `unixEndpoint`. Not parsed as a URL, which would percent-encode a
 * space or a `%` in the path.
 */
export function socketPathOf(endpoint: string): string {
  return endpoint.slice(UNIX_SCHEME.length);
}

/**
 * Makes `socketPath` free to bind. A socket left by a crashed daemon is
 * removed; a socket with a live daemon behind it is never taken over, since
 * two daemons sharing one state directory would corrupt it.
 */
export async function claimUnixSocket(socketPath: string): Promise<void> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let existing;
  try {
    existing = await lstat(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!existing.isSocket()) {
    throw new SocketClaimError(`${socketPath} exists and is not a socket; refusing to replace it`);
  }
  const refusal = await connectError(socketPath);
  if (refusal === null) {
    throw new SocketClaimError(`another daemon is already serving unix://${socketPath}`);
  }
  // ECONNREFUSED: the inode is there but nobody accepts on it, the mark of a crash.
  if (refusal.code !== 'ECONNREFUSED') {
    throw new SocketClaimError(`cannot check whether ${socketPath} is in use: ${refusal.message}`);
  }
  await rm(socketPath, { force: true });
}

/** Connects to `socketPath` and hangs up: null when something accepted, else the kernel's reason (ENOENT, ECONNREFUSED, EACCES…). */
export function connectError(socketPath: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(null);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => resolve(error));
  });
}
