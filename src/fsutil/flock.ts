/**
 * An exclusive lock on a file shared by processes, that a SIGKILLed holder cannot leave behind.
 * Node has no flock(2), so `flock(1)` takes it for us: the file is opened here, its descriptor is handed to
 * `flock -x 3` as fd 3, and when that exits 0 the lock is held by the open file description, which this
 * process keeps open (libuv opens with O_CLOEXEC, so no child of ours inherits it). Release = close it;
 * a killed holder's descriptors close with it, so the kernel drops the lock (no stale lock files, no
 * timeouts, no pid takeover races).
 * The lock file may be removed by its holder (`release(true)`): a waiter that then gets the lock on the old
 * inode sees that the path no longer names the file it locked (dev/ino) and tries again on the new file.
 * A lock nobody holds is first tried without waiting by the system call helper (../proc/helper.ts, one perl
 * process per build that holds the locks it takes: they die with it, and it dies when this process does):
 * no process per acquisition then. A held lock (or no helper) is waited for as above, one flock(1) process.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TsbuildError } from '../errors.js';
import { helperLock, helperUnlock } from '../proc/helper.js';

export interface FileLock {
  /** Release the lock; with `remove`, the lock file is unlinked first (while still held). */
  release(remove?: boolean): Promise<void>;
}

/** Wait for the exclusive lock on `path` (created if missing); rejects with the signal's reason on abort. */
export async function lockFile(path: string, signal?: AbortSignal): Promise<FileLock> {
  await mkdir(dirname(path), { recursive: true });
  signal?.throwIfAborted();
  if (await helperLock(path)) return { release: (remove = false) => helperUnlock(path, remove) };
  for (;;) {
    const fh = await open(path, 'a', 0o644);
    try {
      await flockFd(fh, path, signal);
      const [mine, named] = await Promise.all([fh.stat(), stat(path).catch(() => undefined)]);
      if (named && mine.ino === named.ino && mine.dev === named.dev) {
        return {
          release: async (remove = false) => {
            if (remove) await unlink(path).catch(() => {});
            await fh.close();
          },
        };
      }
      // The holder before us removed (or replaced) the file: lock the one the path names now.
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    await fh.close();
  }
}

function flockFd(fh: FileHandle, path: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => signal?.reason ?? new TsbuildError('CANCELED', 'build canceled');
    if (signal?.aborted) return reject(aborted());
    const child = spawn('flock', ['-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fh.fd] });
    let err = '';
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new TsbuildError('LOCK_FAILED', `cannot lock ${path}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else if (signal?.aborted) reject(aborted());
      else reject(new TsbuildError('LOCK_FAILED', `cannot lock ${path}: flock exited ${code}${err ? `: ${err.trim()}` : ''}`));
    });
  });
}
