/**
 * The executor tests' shared set-up: a temp dir with a busybox lower rootfs, a RuncExecutor with its own
 * state dir, fresh overlays over the rootfs, and a teardown that leaves no container or mount behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncExecutor } from '../../../src/executor/runc.js';
import type { Mount } from '../../../src/snapshot/types.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';

export interface ExecutorFixture {
  dir: string;
  lower: string;
  stateDir: string;
  exec: RuncExecutor;
  /** A fresh writable overlay over `lowerDir` (default: the busybox rootfs). */
  overlay(lowerDir?: string): Promise<{ mounts: Mount[]; upper: string }>;
}

export async function openExecutorFixture(prefix: string): Promise<ExecutorFixture> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const lower = join(dir, 'lower');
  const stateDir = join(dir, 'state');
  await makeBusyboxRootfs(lower);
  let n = 0;
  return {
    dir,
    lower,
    stateDir,
    exec: new RuncExecutor({ stateDir }),
    async overlay(lowerDir = lower) {
      const base = join(dir, `ov${n++}`);
      const upper = join(base, 'upper');
      const work = join(base, 'work');
      await mkdir(upper, { recursive: true });
      await mkdir(work, { recursive: true });
      return { mounts: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowerDir}`, `upperdir=${upper}`, `workdir=${work}`] }], upper };
    },
  };
}

/** Delete leftover containers, unmount what is still mounted under the dir, remove it. */
export async function closeExecutorFixture(fx: ExecutorFixture | undefined): Promise<void> {
  if (!fx) return;
  await fx.exec.close();
  const runcRoot = join(fx.stateDir, 'runc');
  spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .forEach((id) => spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]));
  const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
  for (const m of mounted.filter((m) => m.startsWith(fx.dir)).reverse()) spawnSync('umount', ['-l', m]);
  await rm(fx.dir, { recursive: true, force: true });
}
