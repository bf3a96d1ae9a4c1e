/**
 * An exclusive lock on a file shared by processes, that a SIGKILLed holder cannot leave behind.
 * Node has no flock(2), so a small helper holds it: `sh` opens the file on fd 9, `flock(1)` takes the lock
 * on that fd, `locked` is printed, and the shell waits for its stdin to close. Release = close stdin; a
 * killed holder's pipe closes too, so the kernel drops the lock with the helper (no stale lock files, no
 * timeouts, no pid takeover races).
 * The lock file may be removed by its holder (`release(true)`): a waiter that then gets the lock on the old
 * inode sees that the path no longer names the file it locked (dev/ino of /proc/<helper>/fd/9 against the
 * path) and tries again on the new file. Costs one process per acquisition: use it off the hot paths.
 */
import { spawn } from 'node:child_process';
import { mkdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TsbuildError } from '../errors.js';

export interface FileLock {
  /** Release the lock; with `remove`, the lock file is unlinked first (while still held). */
  release(remove?: boolean): Promise<void>;
}

const HELPER = 'exec 9>>"$1" || exit 1; flock -x 9 || exit 1; echo locked; read _ || true';

/** Wait for the exclusive lock on `path` (created if missing); rejects with the signal's reason on abort. */
export async function lockFile(path: string, signal?: AbortSignal): Promise<FileLock> {
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    const held = await holdOnce(path, signal);
    const [mine, named] = await Promise.all([stat(`/proc/${held.pid}/fd/9`).catch(() => undefined), stat(path).catch(() => undefined)]);
    if (mine && named && mine.ino === named.ino && mine.dev === named.dev) return held;
    await held.release(); // the holder before us removed (or replaced) the file: lock the current one
  }
}

function holdOnce(path: string, signal?: AbortSignal): Promise<FileLock & { pid: number }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new TsbuildError('CANCELED', 'build canceled'));
    const child = spawn('sh', ['-c', HELPER, 'tsbuild-lock', path], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let locked = false;
    const exited = new Promise<void>((res) => child.on('close', () => res()));
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdin.on('error', () => {});
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new TsbuildError('LOCK_FAILED', `cannot lock ${path}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (locked) return;
      if (signal?.aborted) reject(signal.reason ?? new TsbuildError('CANCELED', 'build canceled'));
      else reject(new TsbuildError('LOCK_FAILED', `cannot lock ${path}: the lock helper exited ${code}${err ? `: ${err.trim()}` : ''}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (locked || !out.includes('locked')) return;
      locked = true;
      signal?.removeEventListener('abort', onAbort);
      resolve({
        pid: child.pid!,
        release: async (remove = false) => {
          if (remove) await unlink(path).catch(() => {});
          child.stdin.end();
          await exited;
        },
      });
    });
  });
}
