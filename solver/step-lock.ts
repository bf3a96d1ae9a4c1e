/**
 * Deduplicating a missed step across processes on one store, as BuildKit does inside its daemon: before
 * a missed step runs, its build takes the step's lock (`<store>/state/locks/<hex of cache key>`, a
 * flock held by a helper process: ../src/fsutil/flock.ts), then looks the cache record up again. The
 * first build runs the step and writes its record before releasing; the others, waiting on the lock,
 * find that record and use it instead of running the step themselves. A SIGKILLed holder releases the
 * lock with its death. Cache hits never take a lock.
 */
import { join } from 'node:path';
import { lockFile, type FileLock } from '../src/fsutil/flock.js';
import { keyHex } from './ops/commit.js';

export interface StepLocks {
  /** Wait until this process alone may build the step with cache key `key`. */
  acquire(key: string, signal: AbortSignal): Promise<StepLock>;
}

export interface StepLock {
  release(): Promise<void>;
}

/** Step locks as files under `dir` (removed by their holder when it releases them). */
export function fileStepLocks(dir: string): StepLocks {
  return {
    async acquire(key, signal) {
      const lock: FileLock = await lockFile(join(dir, keyHex(key)), signal);
      return { release: () => lock.release(true) };
    },
  };
}
