import { connect } from 'node:net';
import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** Raised when the daemon cannot take its socket; the message is meant for the operator. */
export class SocketClaimError extends Error {
  override name = 'SocketClaimError';
}

/** `unix:///run/crion/crion.sock` → `/run/crion/crion.sock`. The config layer has validated the form. */
export function socketPathOf(listen: string): string {
  return new URL(listen).pathname;
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
  if (await somebodyListens(socketPath)) {
    throw new SocketClaimError(`another daemon is already serving unix://${socketPath}`);
  }
  await rm(socketPath, { force: true });
}

function somebodyListens(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      // ECONNREFUSED: the inode is there but nobody accepts on it, the mark of a crash.
      if (error.code === 'ECONNREFUSED') resolve(false);
      else reject(new SocketClaimError(`cannot check whether ${socketPath} is in use: ${error.message}`));
    });
  });
}
