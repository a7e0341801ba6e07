import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { ByteString } from './tar-reader.js';

/**
 * What Node cannot do itself: it has no mknod(2) and no xattr calls, so the
 * TypeScript unpacker runs `mknod` (coreutils) and `setfattr` (the `attr`
 * package). A process per device node is slow, but layers hold few of them
 * (mostly whiteouts), and the native unpacker is the one crion uses by
 * default. Xattrs are batched: one `setfattr --restore` per layer.
 */

const execFileAsync = promisify(execFile);

/** strerror(ENOTSUP) and strerror(EPERM) in the C locale, ending setfattr's "setfattr: PATH: REASON". */
const TOLERATED = /: (Operation not supported|Operation not permitted)$/;

export interface DeviceNode {
  kind: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
}

/**
 * Makes the node with mode 0600: the caller sets the real mode after the
 * owner, and mknod would refuse setuid or setgid bits anyway. `path` must
 * not exist; mknod creates, never replaces, so it follows no symlink.
 */
export async function makeNode(path: string, node: DeviceNode, signal?: AbortSignal): Promise<void> {
  const type = { char: 'c', block: 'b', fifo: 'p' }[node.kind];
  const numbers = node.kind === 'fifo' ? [] : [String(node.major), String(node.minor)];
  await execFileAsync('mknod', ['-m', '600', path, type, ...numbers], { signal });
}

/**
 * Sets every xattr in one `setfattr` run. Paths and names are written in
 * the escaped form `getfattr --dump` produces, so any byte survives; `-h`
 * sets them on a symlink itself rather than on its target. An xattr the
 * file system does not support (ENOTSUP), or refuses on that type of file
 * (EPERM, e.g. `user.*` on a symlink), is skipped, as containerd does:
 * setfattr goes on past them, and its messages tell them from real errors.
 */
export async function setXattrs(files: Iterable<[path: Buffer, xattrs: ReadonlyMap<ByteString, Buffer>]>, signal?: AbortSignal): Promise<void> {
  const dump: Buffer[] = [];
  for (const [path, xattrs] of files) {
    dump.push(Buffer.from(`# file: ${escape(path)}\n`, 'latin1'));
    for (const [name, value] of xattrs) {
      const encoded = value.length === 0 ? '""' : `0x${value.toString('hex')}`;
      dump.push(Buffer.from(`${escape(Buffer.from(name, 'latin1'))}=${encoded}\n`, 'latin1'));
    }
    dump.push(Buffer.from('\n'));
  }
  if (dump.length === 0) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('setfattr', ['-h', '--restore=-'], {
      signal,
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (data: Buffer) => stderr.push(data));
    child.on('error', reject);
    child.on('close', (code) => {
      const errors = Buffer.concat(stderr)
        .toString()
        .split('\n')
        .filter((line) => line !== '' && !TOLERATED.test(line));
      if (code === 0 || (code === 1 && errors.length === 0)) resolve();
      else reject(new Error(`setfattr exited with ${code}: ${errors.join('; ')}`));
    });
    child.stdin.on('error', () => {
      // An early exit closes stdin; 'close' reports why.
    });
    child.stdin.end(Buffer.concat(dump));
  });
}

/** Octal escapes for every byte but the few that need none, as attr's unquote reads them. */
function escape(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    const safe =
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2f ||
      byte === 0x2e ||
      byte === 0x5f ||
      byte === 0x2d;
    out += safe ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}
