/**
 * lockFile (src/fsutil/flock.ts): exclusive between processes, released when its holder is SIGKILLed,
 * and safe against the holder removing the file while others wait on it.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockFile } from '../../../src/fsutil/flock.js';

/** A separate process holding the lock on `path` until it is killed. */
function holder(path: string): Promise<{ kill(): Promise<void> }> {
  // A process holding the lock on its own descriptor until it is killed, like a build stuck in its step.
  const child = spawn('sh', ['-c', 'exec 9>>"$1"; flock -x 9; echo held; exec sleep 600', 'holder', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.stdout.once('data', () =>
      resolve({
        kill: () =>
          new Promise<void>((res) => {
            child.on('close', () => res());
            child.kill('SIGKILL');
          }),
      }),
    );
  });
}

describe('lockFile', () => {
  it('waits while another process holds the lock, and gets it when that holder is SIGKILLed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-flock-'));
    try {
      const path = join(dir, 'locks', 'k');
      const first = await lockFile(path);
      let second = false;
      const waiting = lockFile(path).then((l) => {
        second = true;
        return l;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(second).toBe(false); // excluded while held
      await first.release();
      const l2 = await waiting;
      expect(second).toBe(true);
      await l2.release(true);
      expect(existsSync(path)).toBe(false);

      // A holder killed with SIGKILL leaves nothing that blocks the next one.
      const other = await holder(path);
      const ac = new AbortController();
      const blocked = lockFile(path, ac.signal);
      await new Promise((r) => setTimeout(r, 300));
      await other.kill();
      const l3 = await blocked;
      await l3.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a waiter whose file was removed by the holder locks the new file, never together with another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-flock-'));
    try {
      const path = join(dir, 'k');
      let inside = 0;
      let most = 0;
      const worker = async () => {
        for (let i = 0; i < 5; i++) {
          const l = await lockFile(path);
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
          await l.release(true);
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      expect(most).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an abort while waiting rejects with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-flock-'));
    try {
      const path = join(dir, 'k');
      const held = await lockFile(path);
      const ac = new AbortController();
      const waiting = lockFile(path, ac.signal);
      ac.abort(new Error('stop'));
      await expect(waiting).rejects.toThrow('stop');
      await held.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
