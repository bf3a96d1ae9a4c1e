/**
 * Leases on temp paths outside the store (containerd's leases are the model). An output written next to
 * its destination (`-o type=local|tar|oci|docker,dest=…`, `tsbuild save -o`) goes through a temp file or
 * dir `.NAME.tmp-<pid>-<hex>` (see tempPathFor in ./atomic.ts) that a SIGKILL would leave behind, in a
 * directory the store knows nothing about. So before the temp path is created, its lease
 * `<store>/state/leases/<pid>-<hex>.json` ({"pid", "path"}) records it; the lease is dropped once the temp
 * path is gone (renamed into place or removed). Crash recovery (src/cli/recover.ts), when it finds a dead
 * build, removes the temp paths named by dead processes' leases, then the leases.
 *
 * The lease dir is set once per process by the command that opened the store (setTempLeaseDir); without
 * it (library use, tests) no lease is written. Leases are not fsynced: they guard against killed
 * processes, not power loss.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';

let leaseDir: string | undefined;

/** Where this process writes its leases (`<store>/state/leases`); undefined turns leases off. */
export function setTempLeaseDir(dir: string | undefined): void {
  leaseDir = dir;
}

/**
 * Run `fn`, which creates (and renames or removes) the temp path `tmp`, under a lease recorded before it
 * starts and dropped when it ends, however it ends short of a kill.
 */
export async function withTempLease<T>(tmp: string, fn: () => Promise<T>): Promise<T> {
  const dir = leaseDir;
  if (!dir) return fn();
  await mkdir(dir, { recursive: true });
  const lease = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  await writeFile(lease, JSON.stringify({ pid: process.pid, path: tmp }) + '\n', { flag: 'wx' });
  try {
    return await fn();
  } finally {
    await unlink(lease).catch(() => {});
  }
}

/**
 * Remove the temp paths leased by processes that are no longer `alive`, and their leases. A lease is
 * honoured only for an absolute path whose name is a temp name carrying the lease's pid (`.NAME.tmp-PID-…`),
 * so a damaged lease can never make recovery delete anything else. Returns how many leases were dropped.
 */
export async function recoverTempLeases(dir: string, alive: (pid: number) => boolean): Promise<number> {
  let dropped = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/^(\d+)-[0-9a-f]+\.json$/.exec(name)?.[1]);
    if (!pid || alive(pid)) continue;
    const file = join(dir, name);
    const lease = await readFile(file, 'utf8').then(parseLease, () => undefined);
    const path = typeof lease?.path === 'string' ? lease.path : undefined;
    if (path && lease?.pid === pid && isAbsolute(path) && isTempNameOf(basename(path), pid)) {
      await rm(path, { recursive: true, force: true }).catch(() => {});
    }
    await unlink(file).then(() => dropped++, () => {});
  }
  return dropped;
}

function isTempNameOf(name: string, pid: number): boolean {
  const m = /^\..+\.tmp-(\d+)-[0-9A-Za-z]+$/.exec(name);
  return m !== null && Number(m[1]) === pid;
}

function parseLease(text: string): { pid?: unknown; path?: unknown } | undefined {
  try {
    return JSON.parse(text) as { pid?: unknown; path?: unknown };
  } catch {
    return undefined; // cut short by the kill: nothing to go on but the pid, so nothing is removed
  }
}
