/**
 * lockFile (src/fsutil/flock.ts): exclusive between processes, released when its holder is SIGKILLed,
 * and safe against the holder removing the file while others wait on it; a free lock is taken by the system
 * call helper without a flock(1) process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockFile } from '../../../src/fsutil/flock.js';
import { toolShims } from '../proc/tool-shims.js';
import { transpileForChild } from '../content/transpile.js';

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

describe('lockFile through the system call helper (src/proc/helper.ts)', () => {
  let dir: string;
  let log: string;
  const savedPath = process.env.PATH;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsbuild-flock-helper-'));
    log = join(dir, 'tools.log');
    process.env.PATH = `${toolShims(join(dir, 'bin'), log, ['flock'])}:${savedPath}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
    rmSync(dir, { recursive: true, force: true });
  });
  const flockRuns = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).length : 0);
  /** `flock -n path true` in another process: 0 when the lock is free, 1 when held. */
  const tryOther = (path: string) => spawnSync('/usr/bin/flock', ['-n', path, 'true']).status;

  it('a free lock is taken with no flock(1) process, other processes are excluded, and a second taker in this process waits for it', async () => {
    const path = join(dir, 'locks', 'a');
    const before = flockRuns();
    const first = await lockFile(path);
    expect(flockRuns()).toBe(before); // taken by the helper
    expect(tryOther(path)).toBe(1);
    let second = false;
    const waiting = lockFile(path).then((l) => {
      second = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(second).toBe(false);
    await first.release();
    const l2 = await waiting; // waited the flock(1) way
    expect(flockRuns()).toBe(before + 1);
    expect(tryOther(path)).toBe(1);
    await l2.release(true);
    expect(existsSync(path)).toBe(false);
    expect(tryOther(path)).toBe(0);
    const l3 = await lockFile(path);
    await l3.release(true);
    expect(existsSync(path)).toBe(false);
    expect(flockRuns()).toBe(before + 1);
  });

  it('the lock of a SIGKILLed process is released (its helper exits with it)', async () => {
    const js = join(dir, 'js');
    mkdirSync(js, { recursive: true });
    const flockJs = await transpileForChild('src/fsutil/flock.ts', js);
    const path = join(dir, 'killed');
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { lockFile } from ${JSON.stringify(flockJs)}; await lockFile(${JSON.stringify(path)}); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.on('error', rej);
      child.stdout.once('data', () => res());
    });
    expect(tryOther(path)).toBe(1);
    const closed = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await closed;
    const got = spawnSync('/usr/bin/flock', ['-w', '10', path, 'true']).status;
    expect(got).toBe(0);
  });
});
