/**
 * The base layer of every runnable test image: Debian's static busybox as
 * `bin/busybox`, every applet it lists as a hard link beside it (as the
 * official busybox image does), the passwd and group files the user-related
 * specs resolve names against, and the usual top-level directories.
 * Debian's build lacks a few applets the official image has (pgrep, ipcs),
 * and its shell runs applets in-process instead of looking them up on PATH;
 * critest's busybox stand-in adds the one and avoids the other
 * (critest-images.ts, dynamic-busybox.ts).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TarEntry } from './tar-writer.js';

const BUSYBOX = '/bin/busybox';

/** Accounts of the official busybox image, so `www-data` is uid 33 as critest expects. */
export const BUSYBOX_PASSWD =
  [
    'root:x:0:0:root:/root:/bin/sh',
    'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
    'bin:x:2:2:bin:/bin:/bin/false',
    'sys:x:3:3:sys:/dev:/bin/false',
    'sync:x:4:100:sync:/bin:/bin/sync',
    'mail:x:8:8:mail:/var/spool/mail:/bin/false',
    'www-data:x:33:33:www-data:/var/www:/bin/false',
    'operator:x:37:37:Operator:/var:/bin/false',
    'nobody:x:65534:65534:nobody:/home:/bin/false',
  ].join('\n') + '\n';

export const BUSYBOX_GROUP =
  [
    'root:x:0:',
    'daemon:x:1:',
    'bin:x:2:',
    'sys:x:3:',
    'adm:x:4:',
    'tty:x:5:',
    'disk:x:6:',
    'lp:x:7:',
    'mail:x:8:',
    'kmem:x:9:',
    'wheel:x:10:root',
    'cdrom:x:11:',
    'dialout:x:18:',
    'floppy:x:19:',
    'video:x:28:',
    'audio:x:29:',
    'tape:x:32:',
    'www-data:x:33:',
    'operator:x:37:',
    'utmp:x:43:',
    'plugdev:x:46:',
    'staff:x:50:',
    'lock:x:54:',
    'netdev:x:82:',
    'users:x:100:',
    'nogroup:x:65534:',
  ].join('\n') + '\n';

let cached: TarEntry[] | undefined;

/** The base layer's entries; read once per process. */
export function busyboxEntries(): TarEntry[] {
  cached ??= busyboxRootfsEntries(BUSYBOX, 'apt-get install busybox-static');
  return cached;
}

/** A rootfs around the busybox binary at `busybox`; `installHint` says how to get it when it is missing. */
export function busyboxRootfsEntries(busybox: string, installHint: string): TarEntry[] {
  let binary: Buffer;
  let applets: string[];
  try {
    binary = readFileSync(busybox);
    applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch (error) {
    throw new Error(`cannot use ${busybox} (${installHint}): ${(error as Error).message}`, { cause: error });
  }
  const dirs = ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sys', 'tmp', 'usr', 'var', 'var/www'];
  return [
    ...dirs.map((dir): TarEntry => ({ type: 'dir', path: `${dir}/`, mode: dirMode(dir) })),
    { type: 'file', path: 'bin/busybox', mode: 0o755, content: binary },
    ...applets
      .filter((applet) => applet !== 'busybox')
      .map((applet): TarEntry => ({ type: 'hardlink', path: `bin/${applet}`, target: 'bin/busybox', mode: 0o755 })),
    { type: 'file', path: 'etc/passwd', content: BUSYBOX_PASSWD },
    { type: 'file', path: 'etc/group', content: BUSYBOX_GROUP },
  ];
}

function dirMode(dir: string): number {
  if (dir === 'tmp') return 0o1777;
  if (dir === 'root') return 0o700;
  return 0o755;
}
