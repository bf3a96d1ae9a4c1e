/**
 * Build the OCI runtime spec (config.json, runtime-spec 1.0.2) that runc runs one build step with.
 * Pure function: it reads nothing and writes nothing; src/executor/runc.ts supplies the paths.
 */
import { defaultSeccompProfile } from './seccomp.js';
import type { ResourceLimits } from './types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_HOSTNAME = 'buildkitsandbox';
export const DEFAULT_PIDS_LIMIT = 16384;
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** An OCI mount entry. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability, in bit order (CAP_CHOWN = 0); RUN --security=insecure gets those the process holds (./capabilities.ts). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default masked and read-only paths. */
const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface RuntimeSpecOptions {
  /** Host path of the mounted root filesystem. */
  rootfs: string;
  args: string[];
  /** KEY=VALUE. PATH and HOME are added when absent. */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[]; home: string };
  hostname?: string;
  /** 'host' shares the host's network namespace; 'none' a new one with only lo; 'path' joins `networkNamespacePath`. */
  network?: 'host' | 'none' | 'path';
  networkNamespacePath?: string;
  /** Host files bind-mounted read-only at /etc/hosts and /etc/resolv.conf. */
  hostsFile: string;
  resolvConfFile: string;
  /**
   * cgroup path for runc. A relative path is placed by runc under runc's own cgroup (per controller on
   * cgroup v1, under the own unified cgroup on v2); runc creates and removes it.
   */
  cgroupsPath?: string;
  /** pids.max for the step; omitted when the pids controller cannot be used. */
  pidsLimit?: number;
  /** RLIMIT_NOFILE (soft = hard). Default 1048576, Docker's. */
  nofile?: number;
  /** memory, cpu, ulimits, /dev/shm size (pidsLimit above wins over limits.pidsLimit). */
  limits?: ResourceLimits;
  /**
   * The root filesystem as a mount runc makes itself, onto `rootfs` (an empty dir), inside the container's
   * mount namespace, before every other mount: then nothing is mounted on the host and the mount dies with
   * the container. Without it `rootfs` must already hold the root filesystem.
   */
  rootfsMount?: OciMount;
  /** Extra mounts after the standard ones (RUN --mount), in order. */
  extraMounts?: OciMount[];
  /** Default true: Docker's default seccomp profile (./seccomp.ts). */
  seccomp?: boolean;
  /**
   * Bind the host's /sys read-only instead of mounting a sysfs: needed in a user namespace that does not
   * own the network namespace (a rootless build with the host network), where sysfs cannot be mounted.
   */
  bindSys?: boolean;
  /**
   * RUN --security=insecure (BuildKit's insecure mode): every capability, no seccomp filter, no masked or
   * read-only /proc paths, /sys writable. Still its own mount/pid/ipc/uts namespaces and cgroup.
   */
  insecure?: { capabilities: string[] };
}

/** The mount destinations of the spec that must exist in the rootfs (runc creates them otherwise). */
export const STUB_DIRS = ['/proc', '/dev', '/sys'];
export const STUB_FILES = ['/etc/hosts', '/etc/resolv.conf'];

export function withDefaultEnv(env: string[], home: string): string[] {
  const out = [...env];
  const has = (k: string) => out.some((e) => e.startsWith(k + '='));
  if (!has('PATH')) out.unshift('PATH=' + DEFAULT_PATH);
  if (!has('HOME')) out.push('HOME=' + home);
  return out;
}

export function buildRuntimeSpec(opts: RuntimeSpecOptions): object {
  const network = opts.network ?? 'host';
  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }, { type: 'pid' }, { type: 'ipc' }, { type: 'uts' }];
  // 'none' gets its own namespace with only loopback (runc brings lo up); 'path' joins a namespace
  // prepared by the executor (slirp4netns); 'host' shares the host's stack.
  if (network === 'none') namespaces.push({ type: 'network' });
  if (network === 'path') namespaces.push({ type: 'network', path: opts.networkNamespacePath ?? '' });
  const limits = opts.limits ?? {};

  const insecure = opts.insecure !== undefined;
  const caps = opts.insecure ? [...opts.insecure.capabilities] : [...DEFAULT_CAPABILITIES];
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
  };
  if (opts.pidsLimit !== undefined) resources.pids = { limit: opts.pidsLimit };
  if (limits.memoryBytes !== undefined) resources.memory = { limit: limits.memoryBytes, swap: limits.memoryBytes };
  if (limits.cpuQuota !== undefined) resources.cpu = { quota: limits.cpuQuota, period: limits.cpuPeriod ?? 100000 };
  const rlimits = new Map<string, { type: string; hard: number; soft: number }>();
  rlimits.set('RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: opts.nofile ?? 1048576, soft: opts.nofile ?? 1048576 });
  for (const u of limits.ulimits ?? []) rlimits.set(u.type, { type: u.type, hard: u.hard, soft: u.soft });
  const shmSize = limits.shmSizeBytes ?? DEFAULT_SHM_SIZE;

  const linux: Record<string, unknown> = {
    namespaces,
    resources,
    maskedPaths: insecure ? [] : MASKED_PATHS,
    readonlyPaths: insecure ? [] : READONLY_PATHS,
  };
  if (opts.seccomp !== false && !insecure) linux.seccomp = defaultSeccompProfile();
  if (opts.cgroupsPath !== undefined) linux.cgroupsPath = opts.cgroupsPath;

  return {
    ociVersion: '1.0.2',
    root: { path: opts.rootfs, readonly: false },
    process: {
      terminal: false,
      user: { uid: opts.user.uid, gid: opts.user.gid, additionalGids: opts.user.additionalGids },
      args: opts.args,
      env: withDefaultEnv(opts.env, opts.user.home),
      cwd: opts.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [...rlimits.values()],
      noNewPrivileges: false,
    },
    hostname: opts.hostname ?? DEFAULT_HOSTNAME,
    mounts: [
      ...(opts.rootfsMount ? [{ ...opts.rootfsMount, destination: '/' }] : []),
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.max(1, Math.ceil(shmSize / 1024))}k`] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      opts.bindSys
        ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
        : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', insecure ? 'rw' : 'ro'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: opts.resolvConfFile, options: ['rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: opts.hostsFile, options: ['rbind', 'ro'] },
      ...(opts.extraMounts ?? []),
    ],
    linux,
  };
}

/** /etc/hosts of a step: loopback names, the step's hostname, then `--add-host` entries. */
export function hostsFileContent(hostname: string, extra: readonly { host: string; ip: string }[] = []): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `127.0.0.1\t${hostname}`,
    ...extra.map((e) => `${e.ip}\t${e.host}`),
    '',
  ].join('\n');
}
