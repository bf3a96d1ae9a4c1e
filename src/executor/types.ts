import type { Mount } from '../snapshot/types.js';

/**
 * Executor: runs one process in a sandbox whose root filesystem is given as Mount[].
 *
 * Lifecycle of `run`: mount the rootfs at a private temp dir; resolve `user` against the rootfs's
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

export interface RunOptions {
  signal?: AbortSignal;
  network?: 'default' | 'none' | 'host';
  hostname?: string;
  /** Called with raw output chunks as they arrive. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface RunResult {
  exitCode: number;
  signal?: string;
}

export interface Executor {
  /** Resolves with the exit status; throws SandboxError when the sandbox itself fails. */
  run(rootfs: Mount[], process: ProcessSpec, opts?: RunOptions): Promise<RunResult>;
}
