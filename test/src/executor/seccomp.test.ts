import { describe, expect, it } from 'vitest';
import { defaultSeccompProfile, isAllowedSyscall } from '../../../src/executor/seccomp.js';
import { buildRuntimeSpec } from '../../../src/executor/spec.js';

describe('default seccomp profile', () => {
  it('denies by default with EPERM and allows ordinary syscalls', () => {
    const p = defaultSeccompProfile('x64', false);
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBe(1);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64']);
    expect(defaultSeccompProfile('x64', true).architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const s of ['read', 'openat', 'execve', 'clone', 'socket', 'chroot', 'setuid']) expect(isAllowedSyscall(s) || s === 'clone').toBe(true);
  });

  it('keeps out what Docker documents as blocked', () => {
    for (const s of ['mount', 'umount2', 'pivot_root', 'setns', 'unshare', 'keyctl', 'add_key', 'request_key', 'bpf', 'ptrace', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'clock_settime', 'settimeofday', 'perf_event_open', 'open_by_handle_at', 'userfaultfd', 'acct', 'quotactl', 'process_vm_readv', 'syslog', 'io_uring_setup']) {
      expect(isAllowedSyscall(s), s).toBe(false);
    }
  });

  it('allows clone only without namespace flags, and answers clone3 with ENOSYS', () => {
    const p = defaultSeccompProfile('x64', false);
    const clone = p.syscalls.find((r) => r.names.includes('clone'))!;
    expect(clone.args).toEqual([{ index: 0, value: 0x7e020080, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    expect(p.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  });

  it('is part of every spec unless turned off; limits map onto resources and rlimits', () => {
    const base = { rootfs: '/r', args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' }, hostsFile: '/h', resolvConfFile: '/c' };
    const s = buildRuntimeSpec({
      ...base,
      limits: { memoryBytes: 64 << 20, cpuQuota: 50000, ulimits: [{ type: 'RLIMIT_NPROC', soft: 10, hard: 20 }], shmSizeBytes: 8 << 20 },
    }) as { linux: { seccomp?: unknown; resources: Record<string, unknown> }; process: { rlimits: unknown[] }; mounts: { destination: string; options: string[] }[] };
    expect(s.linux.seccomp).toBeDefined();
    expect(s.linux.resources.memory).toEqual({ limit: 64 << 20, swap: 64 << 20 });
    expect(s.linux.resources.cpu).toEqual({ quota: 50000, period: 100000 });
    expect(s.process.rlimits).toContainEqual({ type: 'RLIMIT_NPROC', soft: 10, hard: 20 });
    expect(s.mounts.find((m) => m.destination === '/dev/shm')!.options).toContain('size=8192k');
    expect((buildRuntimeSpec({ ...base, seccomp: false }) as { linux: { seccomp?: unknown } }).linux.seccomp).toBeUndefined();
  });
});
