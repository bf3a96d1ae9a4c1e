import { describe, expect, it } from 'vitest';
import { bytes, parseSandboxArgs, parseSecret, parseSsh, parseUlimit } from '../../../src/cli/sandbox-args.js';
import { UsageError } from '../../../src/errors.js';

describe('sandbox flags', () => {
  it('parses limits like docker build', () => {
    const a = parseSandboxArgs({ memory: '512m', cpus: '1.5', 'pids-limit': '100', ulimit: ['nofile=1024:2048', 'nproc=64'], 'shm-size': '1g', 'cgroup-parent': 'ci/jobs' });
    expect(a.limits).toEqual({
      memoryBytes: 512 * 1024 ** 2,
      cpuPeriod: 100000,
      cpuQuota: 150000,
      pidsLimit: 100,
      ulimits: [
        { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 },
        { type: 'RLIMIT_NPROC', soft: 64, hard: 64 },
      ],
      shmSizeBytes: 1024 ** 3,
      cgroupParent: 'ci/jobs',
    });
    expect(a.network).toBe('default');
    expect(parseSandboxArgs({ 'cpu-quota': '20000', 'cpu-period': '50000' }).limits).toEqual({ cpuQuota: 20000, cpuPeriod: 50000 });
  });

  it('parses --secret and --ssh', () => {
    expect(parseSecret('id=a,src=/f')).toEqual({ id: 'a', src: '/f' });
    expect(parseSecret('id=a,source=/f')).toEqual({ id: 'a', src: '/f' });
    expect(parseSecret('id=a,env=TOKEN')).toEqual({ id: 'a', env: 'TOKEN' });
    expect(parseSecret('type=env,id=A')).toEqual({ id: 'A', env: 'A' });
    expect(parseSecret('id=a')).toEqual({ id: 'a' });
    expect(parseSsh('default')).toEqual({ id: 'default', paths: [] });
    expect(parseSsh('gh=/k1,/k2')).toEqual({ id: 'gh', paths: ['/k1', '/k2'] });
  });

  it.each([
    [() => parseSandboxArgs({ network: 'bridge' }), 'invalid --network'],
    [() => parseSandboxArgs({ memory: '1k' }), 'minimum'],
    [() => parseSandboxArgs({ cpus: '0' }), 'invalid --cpus'],
    [() => parseSandboxArgs({ cpus: '1', 'cpu-quota': '10000' }), 'cannot be used together'],
    [() => parseSandboxArgs({ 'cgroup-parent': '../x' }), 'invalid --cgroup-parent'],
    [() => parseUlimit('files=1'), 'invalid --ulimit'],
    [() => parseUlimit('nofile=5:1'), 'soft limit is above'],
    [() => parseSecret('src=/f'), 'id=NAME is required'],
    [() => parseSecret('id=a,type=ftp'), 'type must be'],
    [() => parseSsh('bad id'), 'invalid --ssh'],
    [() => bytes('--shm-size', 'x', 1), 'expected a size'],
  ])('rejects bad values (%#)', (f, msg) => {
    expect(f).toThrow(UsageError);
    expect(f).toThrow(msg);
  });
});
