/** The messages between tar-producer.ts (main thread) and tar-worker.ts (worker thread). */

/** Indexes into the job's shared Int32Array. */
export const INFLIGHT = 0;
export const ABORT = 1;
/** Chunks (1 MiB each) the worker may post before the main thread has consumed them. */
export const MAX_INFLIGHT = 8;

export interface TarJob {
  dir: string;
  /** Absolute paths of the opaque directories. */
  opaque: string[];
  /** SharedArrayBuffer of two Int32: [INFLIGHT, ABORT]. */
  ctl: SharedArrayBuffer;
  /**
   * Write the tar into this file descriptor (tar-file.ts) instead of posting chunks; 'done' then carries
   * its size and sha256, and the whole tar when it is at most `keepUpTo` bytes.
   */
  file?: { fd: number; keepUpTo: number };
}

export type TarJobMessage =
  | { t: 'chunk'; b: ArrayBuffer; n: number }
  | { t: 'done'; file?: { size: number; hex: string; small?: ArrayBuffer } }
  | { t: 'aborted' }
  | { t: 'error'; message: string; tsbuildCode?: string; code?: string; path?: string; syscall?: string };
