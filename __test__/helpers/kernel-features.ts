/**
 * The kernel's own answer on the features the daemon's host probe reports,
 * found by issuing the syscalls from perl (perl-base is part of every Debian
 * system): an oracle that shares no code with the Rust probe, so a wrong
 * probe fails host-probe.test.ts, and a test can be skipped, with the
 * kernel's errno as the reason, on a host that lacks a feature.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Missing } from './host-requirements.js';

export interface KernelFeatures {
  /** fsopen("overlay") gives a filesystem context. */
  fsopenOverlay: Missing;
  /** An overlay superblock is created from two layers given as `lowerdir+`, one fsconfig call each. */
  lowerdirAppend: Missing;
  /** pidfd_open on the caller itself. */
  pidfdOpen: Missing;
  /** waitid(P_PIDFD, WEXITED | WNOHANG) on that pidfd is answered ECHILD, not refused as an unknown id type. */
  waitidPidfd: Missing;
}

/**
 * Syscall numbers: those from 424 on are the same on every architecture
 * (fsopen 430, fsconfig 431, pidfd_open 434); waitid is not.
 */
const WAITID: Partial<Record<string, number>> = { x64: 247, arm64: 95 };

// Prints one `name<TAB>reason` line per feature, the reason empty when it works.
const SCRIPT = String.raw`
use strict;
my ($waitid, $lower_a, $lower_b) = @ARGV;
# syscall() passes strings as pointers and needs them writable: no literals.
my ($overlay, $lowerdir_append) = ("overlay", "lowerdir+");
my %missing;
my $fd = syscall(430, $overlay, 0);
if ($fd < 0) {
  $missing{fsopenOverlay} = "fsopen(\"overlay\"): $!";
  $missing{lowerdirAppend} = "needs fsopen(\"overlay\")";
} elsif (syscall(431, $fd, 1, $lowerdir_append, $lower_a, 0) < 0
      || syscall(431, $fd, 1, $lowerdir_append, $lower_b, 0) < 0) {
  $missing{lowerdirAppend} = "fsconfig(\"lowerdir+\"): $!";
} elsif (syscall(431, $fd, 6, 0, 0, 0) < 0) {
  $missing{lowerdirAppend} = "creating an overlay from lowerdir+ layers: $!";
}
my $pidfd = syscall(434, $$ + 0, 0);
if ($pidfd < 0) {
  $missing{pidfdOpen} = "pidfd_open: $!";
  $missing{waitidPidfd} = "needs pidfd_open";
} elsif (syscall($waitid + 0, 3, $pidfd, 0, 5, 0) < 0 && !$!{ECHILD}) {
  $missing{waitidPidfd} = "waitid(P_PIDFD): $!";
}
print "$_\t" . ($missing{$_} // "") . "\n" for qw(fsopenOverlay lowerdirAppend pidfdOpen waitidPidfd);
`;

let cached: KernelFeatures | undefined;

/** Asks the kernel once per process; synchronous, so a test file can decide at load time what to skip. */
export function kernelFeatures(): KernelFeatures {
  cached ??= askKernel();
  return cached;
}

function askKernel(): KernelFeatures {
  const waitid = WAITID[process.arch];
  if (waitid === undefined) throw new Error(`kernel-features: no waitid syscall number for ${process.arch}`);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'crion-kernel-features-'));
  try {
    const lowers = ['a', 'b'].map((name) => path.join(scratch, name));
    for (const lower of lowers) mkdirSync(lower);
    const result = spawnSync('perl', ['-e', SCRIPT, String(waitid), ...lowers], { encoding: 'utf8', timeout: 30_000 });
    if (result.status !== 0) {
      throw new Error(`kernel-features: perl failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`);
    }
    const answers = new Map(
      result.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\t') as [string, string]),
    );
    const feature = (name: keyof KernelFeatures): Missing => {
      const reason = answers.get(name);
      if (reason === undefined) throw new Error(`kernel-features: no answer for ${name} in ${JSON.stringify(result.stdout)}`);
      return reason === '' ? null : reason;
    };
    return {
      fsopenOverlay: feature('fsopenOverlay'),
      lowerdirAppend: feature('lowerdirAppend'),
      pidfdOpen: feature('pidfdOpen'),
      waitidPidfd: feature('waitidPidfd'),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
