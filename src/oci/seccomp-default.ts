import type { SeccompPolicy, SeccompRule } from './seccomp.js';

/**
 * crion's RuntimeDefault seccomp policy: an allow list. Anything not listed
 * fails with EPERM, which programs treat as "not allowed here" and handle;
 * the few syscalls whose callers only fall back on ENOSYS get ENOSYS.
 *
 * What stays out: syscalls that reach kernel state shared by the whole node
 * and not covered by a namespace (keyrings, kernel modules, kexec, swap,
 * the clock, the kernel log, BPF and perf without their capabilities),
 * vsock sockets (they reach the host or hypervisor, not the pod's network),
 * io_uring (a recurring source of kernel exploits, and it bypasses this
 * filter for the operations it submits), userfaultfd (it turns kernel races
 * into reliable exploits), and namespace creation for containers without
 * CAP_SYS_ADMIN. Obsolete syscalls nothing current uses (uselib, sysfs,
 * ustat, _sysctl, vm86, modify_ldt) are out too.
 *
 * Names a kernel or libseccomp does not know are skipped by runc, so one
 * list serves x86_64 and arm64; syscalls that exist only for 32-bit ABIs
 * are listed because the filter also covers the compat architectures.
 */

const ALLOW = 'SCMP_ACT_ALLOW' as const;
const ERRNO = 'SCMP_ACT_ERRNO' as const;
const EPERM = 1;
const ENOSYS = 38;

// The syscall lists below are laid out by hand, related calls on one line (the
// `prettier-ignore` above each keeps the formatter from putting one name per line).

/** Reading, writing and moving data through file descriptors. */
// prettier-ignore
const FILE_IO = [
  'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
  'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'lseek', '_llseek',
  'dup', 'dup2', 'dup3', 'fcntl', 'fcntl64', 'ioctl', 'flock',
  'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'sync_file_range2', 'arm_sync_file_range',
  'truncate', 'truncate64', 'ftruncate', 'ftruncate64', 'fallocate',
  'fadvise64', 'fadvise64_64', 'arm_fadvise64_64', 'readahead',
  'sendfile', 'sendfile64', 'splice', 'tee', 'vmsplice', 'copy_file_range', 'pipe', 'pipe2',
  'cachestat',
];

/** Names, metadata and permissions in the filesystem tree. */
// prettier-ignore
const FILE_METADATA = [
  'stat', 'stat64', 'fstat', 'fstat64', 'lstat', 'lstat64', 'newfstatat', 'fstatat64', 'statx',
  'statfs', 'statfs64', 'fstatfs', 'fstatfs64', 'access', 'faccessat', 'faccessat2',
  'readlink', 'readlinkat', 'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir',
  'mkdir', 'mkdirat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat',
  'unlink', 'unlinkat', 'mknod', 'mknodat', 'umask',
  'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
  'chown', 'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32',
  'utime', 'utimes', 'utimensat', 'utimensat_time64', 'futimesat',
  'getxattr', 'lgetxattr', 'fgetxattr', 'getxattrat', 'setxattr', 'lsetxattr', 'fsetxattr', 'setxattrat',
  'listxattr', 'llistxattr', 'flistxattr', 'listxattrat',
  'removexattr', 'lremovexattr', 'fremovexattr', 'removexattrat',
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
  // A handle is only a name; opening one (open_by_handle_at) needs CAP_DAC_READ_SEARCH below.
  'name_to_handle_at',
];

/** The process's own memory. */
// prettier-ignore
const MEMORY = [
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'madvise', 'mincore', 'msync', 'remap_file_pages',
  'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall', 'membarrier', 'memfd_create', 'memfd_secret', 'mseal',
  'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'map_shadow_stack',
  // NUMA policy of the caller's own memory; moving other processes' pages needs CAP_SYS_NICE below.
  'get_mempolicy', 'set_mempolicy', 'set_mempolicy_home_node', 'mbind',
];

/** Creating, running, inspecting and ending processes and threads. */
// prettier-ignore
const PROCESSES = [
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'waitpid',
  'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid', 'setsid',
  'prctl', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'get_robust_list', 'rseq',
  'set_thread_area', 'get_thread_area', 'set_tls', 'cacheflush', 'breakpoint',
  'futex', 'futex_time64', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue',
  'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_setparam',
  'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min',
  'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_getattr', 'sched_setattr',
  'getpriority', 'setpriority', 'ioprio_get', 'ioprio_set',
  'getrlimit', 'setrlimit', 'ugetrlimit', 'prlimit64', 'getrusage', 'times',
  'capget', 'capset', 'uname', 'sysinfo', 'getrandom', 'getcpu', 'restart_syscall',
  'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd',
  // Since Linux 4.8 a tracer's syscalls are filtered again after ptrace changes them, so ptrace cannot
  // bypass this filter; the kernel's own ptrace access checks (and Yama) still apply.
  'ptrace', 'process_vm_readv', 'process_vm_writev',
  // Processes sandboxing themselves further.
  'seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self',
];

/** User and group IDs; the kernel checks CAP_SETUID/CAP_SETGID. */
// prettier-ignore
const CREDENTIALS = [
  'getuid', 'getuid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getegid', 'getegid32',
  'setuid', 'setuid32', 'setgid', 'setgid32', 'setreuid', 'setreuid32', 'setregid', 'setregid32',
  'setresuid', 'setresuid32', 'setresgid', 'setresgid32', 'getresuid', 'getresuid32', 'getresgid', 'getresgid32',
  'setfsuid', 'setfsuid32', 'setfsgid', 'setfsgid32', 'getgroups', 'getgroups32', 'setgroups', 'setgroups32',
];

// prettier-ignore
const SIGNALS = [
  'kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo',
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend',
  'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'sigaltstack', 'signalfd', 'signalfd4',
  'sigaction', 'signal', 'sigprocmask', 'sigreturn', 'sigpending', 'sigsuspend', 'pause', 'alarm',
];

/** Reading clocks and sleeping; setting the clock needs CAP_SYS_TIME below. */
// prettier-ignore
const TIME = [
  'clock_gettime', 'clock_gettime64', 'clock_getres', 'clock_getres_time64',
  'clock_nanosleep', 'clock_nanosleep_time64', 'gettimeofday', 'time', 'nanosleep',
  'getitimer', 'setitimer',
  'timer_create', 'timer_delete', 'timer_settime', 'timer_settime64', 'timer_gettime', 'timer_gettime64',
  'timer_getoverrun',
  'timerfd_create', 'timerfd_settime', 'timerfd_settime64', 'timerfd_gettime', 'timerfd_gettime64',
];

/** Waiting on many descriptors, and Linux AIO. */
// prettier-ignore
const EVENTS = [
  'select', '_newselect', 'pselect6', 'pselect6_time64', 'poll', 'ppoll', 'ppoll_time64',
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old',
  'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2',
  'io_setup', 'io_destroy', 'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64',
];

/** Sockets other than creating one, which has its own rule. */
// prettier-ignore
const SOCKETS = [
  'socketpair', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername',
  'getsockopt', 'setsockopt', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg',
  'recvmmsg_time64', 'shutdown', 'send', 'recv',
  // 32-bit x86 multiplexes every socket call through one syscall, whose arguments seccomp cannot see.
  'socketcall',
];

/** System V and POSIX IPC: namespaced with the pod's IPC namespace. */
// prettier-ignore
const IPC = [
  'shmget', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'semctl',
  'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'ipc',
  'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64', 'mq_timedreceive', 'mq_timedreceive_time64',
  'mq_notify', 'mq_getsetattr',
];

/** clone flags that create namespaces: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const AF_VSOCK = 40;
/** personality(2) values glibc, setarch and 32-bit tools use: PER_LINUX, PER_LINUX32, with UNAME26, and the query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

// prettier-ignore
const rules: SeccompRule[] = [
  {
    names: [
      ...FILE_IO, ...FILE_METADATA, ...MEMORY, ...PROCESSES, ...CREDENTIALS,
      ...SIGNALS, ...TIME, ...EVENTS, ...SOCKETS, ...IPC,
    ],
    action: ALLOW,
  },
  { names: ['socket'], action: ALLOW, args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] },
  ...PERSONALITIES.map(
    (persona): SeccompRule => ({
      names: ['personality'],
      action: ALLOW,
      args: [{ index: 0, value: persona, op: 'SCMP_CMP_EQ' }],
    }),
  ),
  // Threads and processes, but no new namespaces, unless the container holds CAP_SYS_ADMIN.
  {
    names: ['clone'],
    action: ALLOW,
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    unlessCapability: 'CAP_SYS_ADMIN',
  },
  // clone3 passes its flags in memory the filter cannot read; ENOSYS makes glibc fall back to clone.
  { names: ['clone3'], action: ERRNO, errnoRet: ENOSYS, unlessCapability: 'CAP_SYS_ADMIN' },
  {
    names: [
      'clone', 'clone3', 'unshare', 'setns', 'mount', 'umount', 'umount2', 'pivot_root',
      'fsopen', 'fsconfig', 'fsmount', 'fspick', 'open_tree', 'move_mount', 'mount_setattr',
      'sethostname', 'setdomainname', 'quotactl', 'quotactl_fd', 'fanotify_init',
      'lookup_dcookie', 'swapon', 'swapoff', 'userfaultfd',
    ],
    action: ALLOW,
    ifAnyCapability: ['CAP_SYS_ADMIN'],
  },
  { names: ['bpf'], action: ALLOW, ifAnyCapability: ['CAP_BPF', 'CAP_SYS_ADMIN'] },
  { names: ['perf_event_open'], action: ALLOW, ifAnyCapability: ['CAP_PERFMON', 'CAP_SYS_ADMIN'] },
  { names: ['open_by_handle_at'], action: ALLOW, ifAnyCapability: ['CAP_DAC_READ_SEARCH'] },
  { names: ['chroot'], action: ALLOW, ifAnyCapability: ['CAP_SYS_CHROOT'] },
  { names: ['kcmp', 'process_madvise', 'process_mrelease'], action: ALLOW, ifAnyCapability: ['CAP_SYS_PTRACE'] },
  { names: ['move_pages', 'migrate_pages'], action: ALLOW, ifAnyCapability: ['CAP_SYS_NICE'] },
  {
    names: [
      'settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64',
    ],
    action: ALLOW,
    ifAnyCapability: ['CAP_SYS_TIME'],
  },
  { names: ['init_module', 'finit_module', 'delete_module'], action: ALLOW, ifAnyCapability: ['CAP_SYS_MODULE'] },
  { names: ['iopl', 'ioperm'], action: ALLOW, ifAnyCapability: ['CAP_SYS_RAWIO'] },
  { names: ['acct'], action: ALLOW, ifAnyCapability: ['CAP_SYS_PACCT'] },
  { names: ['reboot'], action: ALLOW, ifAnyCapability: ['CAP_SYS_BOOT'] },
  { names: ['syslog'], action: ALLOW, ifAnyCapability: ['CAP_SYSLOG'] },
  { names: ['vhangup'], action: ALLOW, ifAnyCapability: ['CAP_SYS_TTY_CONFIG'] },
];

export const DEFAULT_SECCOMP_POLICY: SeccompPolicy = {
  defaultAction: ERRNO,
  defaultErrnoRet: EPERM,
  architectures: {
    amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  },
  rules,
};
