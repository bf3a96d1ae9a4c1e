/**
 * Private directory for what must never touch the store: secret files of RUN --mount=type=secret and
 * the config.json of a step with secret env vars. It lives on a tmpfs (/dev/shm) when there is one,
 * mode 0700, named `tsbuild-secrets-<container id>` so a dead build's leftovers can be found and
 * removed (see cleanupStaleSecretDirs).
 */
import { chmod, chown, mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../proc/alive.js';
import { ID_PREFIX } from './runc-cli.js';

const TMPFS_MAGIC = 0x01021994;
const PREFIX = 'tsbuild-secrets-';

let base: Promise<string> | undefined;

/** /dev/shm when it is a tmpfs we can write, else the OS temp dir. */
export function secretBase(): Promise<string> {
  base ??= (async () => {
    try {
      if ((await statfs('/dev/shm')).type === TMPFS_MAGIC) {
        const probe = join('/dev/shm', `${PREFIX}probe-${process.pid}`);
        await mkdir(probe, { mode: 0o700 });
        await rm(probe, { recursive: true, force: true });
        return '/dev/shm';
      }
    } catch {
      // fall through
    }
    return tmpdir();
  })();
  return base;
}

export async function makeSecretDir(id: string): Promise<string> {
  const dir = join(await secretBase(), PREFIX + id);
  await mkdir(dir, { mode: 0o700 });
  await chmod(dir, 0o700);
  return dir;
}

/** Write one secret file (0400 by default) owned by uid:gid. */
export async function writeSecretFile(dir: string, name: string, data: Buffer, mode: number, uid: number, gid: number): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data, { mode: mode & 0o7777, flag: 'wx' });
  await chmod(p, mode & 0o7777);
  await chown(p, uid, gid);
  return p;
}

export async function removeSecretDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Remove the secret dirs of tsbuild processes that are gone. */
export async function cleanupStaleSecretDirs(): Promise<void> {
  const b = await secretBase();
  for (const name of await readdir(b).catch(() => [] as string[])) {
    if (!name.startsWith(PREFIX + ID_PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length + ID_PREFIX.length).split('-')[0]);
    if (!pidAlive(pid)) await rm(join(b, name), { recursive: true, force: true }).catch(() => {});
  }
}
