/**
 * tsbuild's default seccomp profile (OCI `linux.seccomp`), written from Docker's documented policy:
 * deny by default with EPERM, allow an explicit list of ordinary system calls, and keep out what
 * reaches kernel state that is not namespaced or is gated by capabilities a step does not have:
 * kernel keyrings (add_key, keyctl, request_key), BPF, clock and time setting, kernel modules,
 * kexec, mount/umount/pivot_root, namespaces (setns, unshare, clone with CLONE_NEW*), ptrace and
 * process_vm_*, perf_event_open, quotactl, reboot, swapon/off, userfaultfd, NUMA policy calls,
 * open_by_handle_at and name_to_handle_at, io_uring, syslog, obsolete calls (uselib, ustat, sysfs, _sysctl, vm86, nfsservctl, ...).
 *
 * Syscalls gated by capabilities follow the step's capability set (Docker's defaults): chroot is
 * allowed (CAP_SYS_CHROOT); everything that needs CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE,
 * CAP_SYS_TIME, CAP_SYS_BOOT, ... stays denied. clone3 answers ENOSYS so libc falls back to clone,
 * whose flags can be checked. Names the kernel or libseccomp does not know are ignored by runc.
 */

const EPERM = 1;
const ENOSYS = 38;

/** Namespace flags of clone(2): CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME. */
const CLONE_NAMESPACE_FLAGS = 0x7e020080;

const ALLOWED: readonly string[] = [
  // files and descriptors
  'access', 'faccessat', 'faccessat2', 'chdir', 'fchdir', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
  'chown', 'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32', 'close', 'close_range',
  'creat', 'dup', 'dup2', 'dup3', 'fcntl', 'fcntl64', 'fadvise64', 'fadvise64_64', 'arm_fadvise64_64',
  'fallocate', 'fdatasync', 'fsync', 'sync', 'syncfs', 'sync_file_range', 'flock', 'ftruncate',
  'ftruncate64', 'truncate', 'truncate64', 'getcwd', 'getdents', 'getdents64', 'link', 'linkat',
  'lseek', '_llseek', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'open', 'openat', 'openat2', 'pipe',
  'pipe2', 'read', 'readv', 'pread64', 'preadv', 'preadv2', 'readahead', 'readlink', 'readlinkat',
  'rename', 'renameat', 'renameat2', 'rmdir', 'unlink', 'unlinkat', 'symlink', 'symlinkat', 'stat',
  'stat64', 'lstat', 'lstat64', 'fstat', 'fstat64', 'fstatat64', 'newfstatat', 'statx', 'statfs',
  'statfs64', 'fstatfs', 'fstatfs64', 'umask', 'utime', 'utimes', 'utimensat', 'utimensat_time64',
  'futimesat', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'sendfile', 'sendfile64',
  'splice', 'tee', 'vmsplice', 'copy_file_range', 'ioctl', 'getxattr', 'lgetxattr', 'fgetxattr',
  'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'removexattr',
  'lremovexattr', 'fremovexattr', 'inotify_init', 'inotify_init1', 'inotify_add_watch',
  'inotify_rm_watch', 'fanotify_mark', 'memfd_create',
  // polling, events, timers
  'select', '_newselect', 'pselect6', 'pselect6_time64', 'poll', 'ppoll', 'ppoll_time64',
  'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old',
  'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'signalfd', 'signalfd4', 'timerfd_create',
  'timerfd_settime', 'timerfd_settime64', 'timerfd_gettime', 'timerfd_gettime64', 'timer_create',
  'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
  'timer_settime64', 'alarm', 'getitimer', 'setitimer', 'nanosleep', 'clock_nanosleep',
  'clock_nanosleep_time64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
  'clock_gettime64', 'gettimeofday', 'time', 'times', 'pause', 'io_setup', 'io_destroy',
  'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_submit', 'io_cancel',
  // memory
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'pkey_mprotect', 'pkey_alloc', 'pkey_free',
  'madvise', 'mincore', 'mlock', 'mlock2', 'mlockall', 'munlock', 'munlockall', 'msync',
  'remap_file_pages', 'membarrier', 'set_thread_area', 'get_thread_area', 'set_tid_address',
  'get_robust_list', 'set_robust_list', 'rseq', 'futex', 'futex_time64', 'futex_waitv',
  // processes, signals, credentials (setuid & co. are covered by CAP_SETUID/CAP_SETGID)
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'waitpid', 'kill',
  'tkill', 'tgkill', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo',
  'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo',
  'sigaction', 'sigaltstack', 'signal', 'sigpending', 'sigprocmask', 'sigreturn', 'sigsuspend',
  'restart_syscall', 'pidfd_open', 'pidfd_send_signal', 'pidfd_getfd', 'prctl', 'arch_prctl',
  'capget', 'capset', 'getpid', 'getppid', 'gettid', 'getpgid', 'getpgrp', 'getsid', 'setpgid',
  'setsid', 'getuid', 'getuid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getegid',
  'getegid32', 'getgroups', 'getgroups32', 'getresuid', 'getresuid32', 'getresgid', 'getresgid32',
  'setuid', 'setuid32', 'setgid', 'setgid32', 'setreuid', 'setreuid32', 'setregid', 'setregid32',
  'setresuid', 'setresuid32', 'setresgid', 'setresgid32', 'setgroups', 'setgroups32', 'setfsuid',
  'setfsuid32', 'setfsgid', 'setfsgid32', 'getpriority', 'setpriority', 'getrlimit', 'ugetrlimit',
  'setrlimit', 'prlimit64', 'getrusage', 'sched_getaffinity', 'sched_setaffinity', 'sched_getattr',
  'sched_setattr', 'sched_getparam', 'sched_setparam', 'sched_getscheduler', 'sched_setscheduler',
  'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_yield', 'ioprio_get', 'ioprio_set', 'getcpu', 'uname',
  'sysinfo', 'getrandom', 'landlock_create_ruleset', 'landlock_add_rule',
  'landlock_restrict_self', 'seccomp', 'process_mrelease',
  // System V and POSIX IPC (namespaced)
  'ipc', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'semctl', 'semget', 'semop', 'semtimedop',
  'semtimedop_time64', 'shmat', 'shmctl', 'shmdt', 'shmget', 'mq_getsetattr', 'mq_notify', 'mq_open',
  'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64', 'mq_unlink',
  // sockets
  'socket', 'socketpair', 'socketcall', 'bind', 'connect', 'listen', 'accept', 'accept4',
  'getsockname', 'getpeername', 'getsockopt', 'setsockopt', 'send', 'sendto', 'sendmsg', 'sendmmsg',
  'recv', 'recvfrom', 'recvmsg', 'recvmmsg', 'recvmmsg_time64', 'shutdown',
  // CAP_SYS_CHROOT is in the default capability set
  'chroot',
];

/** personality(2) personas Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query. */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * The ABIs the filter allows. Docker also lists the 32-bit ABIs (x86 and x32 on amd64, arm on arm64);
 * compiling the filter for three ABIs costs runc ~20 ms per step here, so by default only the native
 * ABI is allowed and 32-bit system calls are refused (stricter than Docker; 32-bit x86 binaries cannot
 * run in a RUN step). `compat32` (TSBUILD_SECCOMP_COMPAT32=1) restores Docker's list.
 */
function architectures(arch: string, compat32: boolean): string[] {
  switch (arch) {
    case 'x64':
      return compat32 ? ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] : ['SCMP_ARCH_X86_64'];
    case 'arm64':
      return compat32 ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : ['SCMP_ARCH_AARCH64'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    default:
      return [];
  }
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo?: number; op: string }[] }[];
}

/** The profile for a step on `arch` (Node's process.arch). */
export function defaultSeccompProfile(arch: string = process.arch, compat32 = process.env.TSBUILD_SECCOMP_COMPAT32 === '1'): SeccompProfile {
  const syscalls: SeccompProfile['syscalls'] = [{ names: [...ALLOWED], action: 'SCMP_ACT_ALLOW' }];
  for (const p of PERSONAS) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] });
  }
  // clone without namespace flags (argument 0 on most architectures; s390 swaps the first two).
  syscalls.push({
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
  });
  syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  if (arch === 'x64') syscalls.push({ names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW' });
  if (arch === 'arm' || arch === 'arm64') {
    syscalls.push({ names: ['arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], action: 'SCMP_ACT_ALLOW' });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: architectures(arch, compat32), syscalls };
}

/** True when `name` is allowed unconditionally by the profile (for tests and docs). */
export function isAllowedSyscall(name: string): boolean {
  return ALLOWED.includes(name);
}
