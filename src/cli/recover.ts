/**
 * Crash recovery at the start of a build. A build registers itself (`state/builds/<pid>`) and removes
 * the marker when it ends, however it ends short of SIGKILL. At the next start:
 * - always (cheap when there is nothing): partial ingest files of dead processes, runc containers and
 *   mounted bundles of dead builds;
 * - only when a dead build's marker is found: mounts under `state/mounts` whose name carries a dead pid,
 *   temp files of its atomic writes (records, step memos, tags, memos, snapshot metadata), temp outputs
 *   next to `-o` destinations named by dead processes' leases (src/fsutil/temp-lease.ts), half-made cache
 *   mount dirs, the private ssh-agent dirs in $TMPDIR (the agent itself died with the build), and active
 *   snapshots of dead processes (this walks the snapshot metadata, so it is not done on every build).
 * Committed blobs, snapshots, cache records and tags are never touched: they were written atomically.
 */
import { mkdir, readdir, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../content/types.js';
import type { Snapshotter } from '../snapshot/types.js';
import { unmount } from '../snapshot/mount.js';
import { cleanupStaleContainers } from '../executor/runc.js';
import { pidAlive } from '../proc/alive.js';
import { removeDeadTempFiles } from '../fsutil/atomic.js';
import { recoverTempLeases } from '../fsutil/temp-lease.js';
import { removeDeadSshDirs } from './sandbox.js';

export interface RecoverDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  /** `state/` of the store. */
  stateDir: string;
  execStateDir: string;
  mountsDir: string;
  runtime?: string;
  /** Dirs of small atomically written files (records, step memos, tags, memos): a dead build's temp files go. */
  tempDirs?: string[];
  /** `state/leases`: leases on temp paths outside the store (src/fsutil/temp-lease.ts). */
  leasesDir?: string;
  /** `cachemounts/`: a dead build's half-made cache mount dirs (`<id dir>/.new-<pid>-<hex>`) go. */
  cacheMountsDir?: string;
}


/** Clean what dead builds left, register this build; returns the function that unregisters it. */
export async function beginBuild(deps: RecoverDeps): Promise<() => Promise<void>> {
  const buildsDir = join(deps.stateDir, 'builds');
  await mkdir(buildsDir, { recursive: true });
  const dead = (await readdir(buildsDir)).filter((n) => /^\d+$/.test(n) && !pidAlive(Number(n)));
  await Promise.all([deps.content.cleanup(), cleanupStaleContainers(deps.execStateDir, deps.runtime ? { runtime: deps.runtime } : {})]);
  if (dead.length > 0) {
    await unmountDeadTempDirs(deps.mountsDir);
    await deps.snapshotter.cleanup();
    await removeDeadTempFiles(deps.tempDirs ?? [], pidAlive);
    if (deps.leasesDir) await recoverTempLeases(deps.leasesDir, pidAlive);
    if (deps.cacheMountsDir) await removeDeadCacheMountTemps(deps.cacheMountsDir);
    await removeDeadSshDirs(pidAlive);
    for (const n of dead) await unlink(join(buildsDir, n)).catch(() => {});
  }
  const marker = await markBuild(deps.stateDir);
  return () => unlink(marker).catch(() => {});
}

/**
 * `state/builds/<pid>`: this process is a build, so that a later build cleans up after it if it dies. Written
 * by beginBuild, and earlier by work that leaves state behind before beginBuild runs (a base layer unpacked
 * into an active snapshot while the image is pulled during the Dockerfile's conversion: build.ts).
 */
export async function markBuild(stateDir: string): Promise<string> {
  const buildsDir = join(stateDir, 'builds');
  await mkdir(buildsDir, { recursive: true });
  const marker = join(buildsDir, String(process.pid));
  await writeFile(marker, new Date().toISOString());
  return marker;
}

/**
 * A cache mount dir is made as `cachemounts/<sha256(id)>/.new-<pid>-<hex>` (seeded, then renamed to
 * `data`; solver/ops/exec/cache-mounts.ts, src/cache/remote/mounts.ts): a dead pid's one is removed.
 */
async function removeDeadCacheMountTemps(dir: string): Promise<void> {
  for (const id of await readdir(dir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{64}$/.test(id)) continue;
    for (const name of await readdir(join(dir, id)).catch(() => [] as string[])) {
      const pid = Number(/^\.new-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
      if (pid && !pidAlive(pid)) await rm(join(dir, id, name), { recursive: true, force: true }).catch(() => {});
    }
  }
}

/** Temp mount points are named `<prefix><pid>-XXXXXX` (solver/ops/file/run.ts). */
async function unmountDeadTempDirs(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const mounted = new Set(
    (await readFile('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((p): p is string => p !== undefined),
  );
  for (const name of names) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1]);
    if (!pid || pidAlive(pid)) continue;
    const path = join(dir, name);
    if (mounted.has(path)) await unmount(path).catch(() => unmount(path, { lazy: true }));
    // `ctx-` dirs are copies of context files for RUN --mount (solver/ops/exec/mounts.ts), never mounted
    // on: removed whole unless something is still mounted below. Anything else only by rmdir.
    if (name.startsWith('ctx-') && ![...mounted].some((m) => m.startsWith(path + '/'))) await rm(path, { recursive: true, force: true }).catch(() => {});
    else await rmdir(path).catch(() => {});
  }
}
