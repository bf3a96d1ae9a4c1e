import { describe, expect, it } from 'vitest';
import { buildRuntimeSpec, DEFAULT_CAPABILITIES, withDefaultEnv } from '../../../src/executor/spec.js';
import { parseProcCgroup } from '../../../src/executor/cgroup.js';

const base = {
  rootfs: '/b/rootfs',
  args: ['/bin/sh', '-c', 'true'],
  env: ['A=1'],
  cwd: '/w',
  user: { uid: 1000, gid: 1001, additionalGids: [5], home: '/home/app' },
  hostsFile: '/b/hosts',
  resolvConfFile: '/b/resolv.conf',
};

type Spec = {
  ociVersion: string;
  root: unknown;
  hostname: string;
  process: { env: string[]; user: unknown; capabilities: Record<string, string[]>; rlimits: unknown[] };
  mounts: { destination: string; source: string; options: string[] }[];
  linux: { namespaces: { type: string }[]; resources: { pids?: unknown }; cgroupsPath?: string };
};

describe('buildRuntimeSpec', () => {
  it('fills Docker defaults', () => {
    const s = buildRuntimeSpec(base) as Spec;
    expect(s.ociVersion).toBe('1.0.2');
    expect(s.root).toEqual({ path: '/b/rootfs', readonly: false });
    expect(s.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1', 'HOME=/home/app']);
    expect(s.process.user).toEqual({ uid: 1000, gid: 1001, additionalGids: [5] });
    expect(s.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(s.process.capabilities.effective).toHaveLength(14);
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
    expect(s.linux.namespaces.map((n) => n.type)).toEqual(['mount', 'pid', 'ipc', 'uts']);
    expect(s.linux.resources.pids).toBeUndefined();
    expect(s.hostname).toBe('buildkitsandbox');
    const hosts = s.mounts.find((m) => m.destination === '/etc/hosts');
    expect(hosts).toMatchObject({ source: '/b/hosts', options: ['rbind', 'ro'] });
    expect(s.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/etc/resolv.conf', '/etc/hosts']);
  });

  it('adds a network namespace only for network none; sets limits and cgroup path', () => {
    expect((buildRuntimeSpec({ ...base, network: 'host' }) as Spec).linux.namespaces).toHaveLength(4);
    const s = buildRuntimeSpec({ ...base, network: 'none', pidsLimit: 99, cgroupsPath: 'tsbuild-x', hostname: 'h', nofile: 20000 }) as Spec;
    expect(s.linux.namespaces.map((n) => n.type)).toContain('network');
    expect(s.linux.resources.pids).toEqual({ limit: 99 });
    expect(s.linux.cgroupsPath).toBe('tsbuild-x');
    expect(s.hostname).toBe('h');
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
  });

  it('keeps PATH and HOME when given', () => {
    expect(withDefaultEnv(['HOME=/x', 'PATH=/bin'], '/root')).toEqual(['HOME=/x', 'PATH=/bin']);
  });
});

describe('parseProcCgroup', () => {
  it('reads v1 hybrid and v2 lines', () => {
    const m = parseProcCgroup('9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/u\n');
    expect(m.get('memory')).toBe('/a/b');
    expect(m.get('cpuacct')).toBe('/c');
    expect(m.get('cpu')).toBe('/c');
    expect(m.get('')).toBe('/u');
    expect(m.get('name=systemd')).toBe('/');
  });
});
