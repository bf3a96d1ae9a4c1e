import { pidAlive } from '../proc/alive.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isMountPoint, unmountAll } from './mountpoint.js';
import { ID_PREFIX, runcCmd, runtimeNotFound } from './runc-cli.js';
import { removeStubs, type StubRecord } from './stubs.js';
import { cleanupStaleSecretDirs } from './secretdir.js';

/**
 * Remove what killed builds left under `stateDir`: runc containers, stubs in still-mounted rootfses,
 * mounts and bundle dirs. Containers of tsbuild processes that are still alive are left alone.
 */
export async function cleanupStaleContainers(stateDir: string, opts: { runtime?: string } = {}): Promise<void> {
  stateDir = resolve(stateDir); // mountinfo lists absolute paths
  const runtime = opts.runtime ?? 'runc';
  const root = join(stateDir, 'runc');
  const stale = (id: string) => id.startsWith(ID_PREFIX) && !pidAlive(Number(id.slice(ID_PREFIX.length).split('-')[0]));
  let listed: { id: string }[] = [];
  // Cheap when nothing is left over: only ask runc when its state dir has containers in it.
  const states = await readdir(root).catch(() => [] as string[]);
  if (states.length > 0) {
    try {
      listed = JSON.parse((await runcCmd(runtime, root, ['list', '--format', 'json'])) || 'null') ?? [];
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') throw runtimeNotFound(runtime, err);
    }
  }
  for (const c of listed) if (stale(c.id)) await runcCmd(runtime, root, ['delete', '-f', c.id]).catch(() => {});

  const bundles = join(stateDir, 'bundles');
  const names = await readdir(bundles).catch(() => [] as string[]);
  for (const name of names) {
    if (!stale(name)) continue;
    const rootDir = join(bundles, name, 'rootfs');
    if (await isMountPoint(rootDir)) {
      const record = await readFile(join(bundles, name, 'stubs.json'), 'utf8').then(
        (t) => JSON.parse(t) as StubRecord,
        () => undefined,
      );
      if (record) await removeStubs(rootDir, record).catch(() => {});
      await unmountAll(rootDir); // throws if it stays mounted: never rm -r a mounted rootfs
    }
    await rm(join(bundles, name), { recursive: true, force: true });
  }
  await cleanupStaleSecretDirs();
}


