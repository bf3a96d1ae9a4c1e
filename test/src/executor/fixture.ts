/**
 * The executor tests' shared set-up: a temp dir with a busybox lower rootfs, a RuncExecutor with its own
 * state dir, fresh overlays over the rootfs, and a teardown that leaves no container or mount behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncExecutor } from '../../../src/executor/runc.js';
import { buildRuntimeSpec } from '../../../src/executor/spec.js';
import { detectNofileLimit } from '../../../src/executor/rlimit.js';
import type { OciMount } from '../../../src/executor/spec.js';
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

/**
 * What a killed build leaves in `stateDir`: a bundle `bundles/<id>` (hosts, resolv.conf, config.json with
 * `args`, the rootfs at `rootDir`, or mounted by runc from `rootfsMount`) and a detached running container.
 * Returns runc's exit status.
 */
export async function startDetachedContainer(stateDir: string, id: string, rootDir: string, args: string[], rootfsMount?: OciMount): Promise<number | null> {
  const bundle = join(stateDir, 'bundles', id);
  await writeFile(join(bundle, 'hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(bundle, 'resolv.conf'), '');
  const spec = buildRuntimeSpec({
    rootfs: rootDir,
    ...(rootfsMount ? { rootfsMount } : {}),
    args,
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    hostsFile: join(bundle, 'hosts'),
    resolvConfFile: join(bundle, 'resolv.conf'),
    cgroupsPath: `tsbuild-${id}`,
    nofile: await detectNofileLimit(),
  });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  // stdio must not be a pipe: the detached container would hold it open (and spawnSync would wait for it).
  return spawnSync('runc', ['--root', join(stateDir, 'runc'), 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore' }).status;
}
