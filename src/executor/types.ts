import type { Mount } from '../snapshot/types.js';

/**
 * Executor: runs one process in a sandbox whose root filesystem is given as Mount[].
 *
 * Lifecycle of `run`: mount the rootfs at a private temp dir (or let the runtime mount it inside the
 * container, when what the step needs from it is known; lower dirs of an overlay rootfs must never change
 * while the executor lives); resolve `user` against the rootfs's
 * /etc/passwd and /etc/group; write an OCI runtime spec (namespaces: mount, pid, ipc, uts; network
 * per `network`); run it under the OCI runtime (runc); stream output; on exit or abort kill every
 * process of the step, delete the container, unmount, remove the temp dir. Mount-point stubs the
 * runtime had to create in the rootfs (e.g. /etc/hosts, /etc/resolv.conf when missing) are removed
 * again, so they never end up in a layer.
 */
export interface ProcessSpec {
  args: string[];
  /** KEY=VALUE. PATH gets Docker's default when absent. */
  env: string[];
  /** Absolute; created if missing. */
  cwd: string;
  /** "", "name", "uid", "name:group", "uid:gid". "" is root. */
  user: string;
}

/** Resource limits of one step (cgroup v1 or v2; rlimits). Unset means the executor's default. */
export interface ResourceLimits {
  /** memory limit in bytes (swap is limited to the same amount: no extra swap). */
  memoryBytes?: number;
  /** CFS quota in microseconds per `cpuPeriod` (default period 100000). --cpus 1.5 = quota 150000. */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** pids.max; default DEFAULT_PIDS_LIMIT. */
  pidsLimit?: number;
  /** RLIMIT_* overrides, e.g. { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }. */
  ulimits?: { type: string; soft: number; hard: number }[];
  /** Size of /dev/shm in bytes; default 64 MiB. */
  shmSizeBytes?: number;
  /** cgroup parent: absolute (from the cgroup root) or relative to tsbuild's own cgroup. */
  cgroupParent?: string;
}

/** An extra mount of a step (RUN --mount), already resolved to host paths. */
export type SandboxMount =
  | { type: 'bind'; source: string; destination: string; readonly: boolean }
  | { type: 'tmpfs'; destination: string; sizeBytes?: number }
  /** A file whose content never touches the store: written to a private tmpfs dir, bind-mounted read-only. */
  | { type: 'secret'; destination: string; data: Buffer; mode: number; uid: number; gid: number };

/**
 * Network of a step: `host` shares the host's stack; `none` has only loopback; `sandbox` is an own
 * namespace with outbound access through slirp4netns (no host loopback services); `default` is what
 * the executor was configured with (RuncExecutorOptions.defaultNetwork).
 */
export type NetworkMode = 'default' | 'none' | 'host' | 'sandbox';

export interface RunOptions {
  signal?: AbortSignal;
  network?: NetworkMode;
  /** 'insecure': every capability, no seccomp, no masked paths, writable /sys (RUN --security=insecure). */
  security?: 'insecure';
  hostname?: string;
  limits?: ResourceLimits;
  mounts?: SandboxMount[];
  /** KEY=VALUE pairs added to the step's env that must never be written to the store (secrets). */
  secretEnv?: string[];
  /** Called with raw output chunks as they arrive. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface RunResult {
  exitCode: number;
  signal?: string;
  /** The step was killed by the OOM killer of its memory limit (bytes). */
  oomKilled?: { limitBytes: number };
  /** A fork failed on the step's pids limit (only reported when a pids limit was asked for). */
  pidsLimitHit?: { limit: number };
}

export interface Executor {
  /** Resolves with the exit status; throws SandboxError when the sandbox itself fails. */
  run(rootfs: Mount[], process: ProcessSpec, opts?: RunOptions): Promise<RunResult>;
  /** Release what the executor keeps between steps (e.g. the sandbox network). Optional. */
  close?(): Promise<void>;
}
