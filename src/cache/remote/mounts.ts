/**
 * Cache mounts that travel (`--cache-to …,cache-mounts=true`): the contents of the RUN --mount=type=cache
 * directories a build uses (`<store>/cachemounts/<sha256(id)>/data`) go into the cache as layer blobs by
 * mount id; `--cache-from` restores a mount this store does not have yet before the solve (so a step that
 * misses on a fresh machine still finds its package cache). A mount's blob is verified and unpacked with
 * applyLayer (nothing outside the new directory), into a temp dir renamed into place.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../../content/types.js';
import { applyLayer } from '../../diff/apply.js';
import { createLayer } from '../../diff/compare.js';
import type { Layer } from '../../image/types.js';
import { sha256 } from '../../llb/digest.js';
import type { Definition } from '../../llb/types.js';
import type { ImportedMount } from './format.js';

export interface PackedMount {
  id: string;
  layer: Layer;
  mode: number;
  uid: number;
  gid: number;
}

/** The ids of the cache mounts a build's steps use. */
export function cacheMountIds(def: Definition): string[] {
  const ids = new Set<string>();
  for (const op of Object.values(def.ops)) {
    if (op.type !== 'exec') continue;
    for (const m of op.mounts ?? []) if (m.type === 'cache') ids.add(m.id);
  }
  return [...ids].sort();
}

function dataDir(root: string, id: string): { base: string; data: string } {
  const base = join(root, sha256(id).replace(/^sha256:/, ''));
  return { base, data: join(base, 'data') };
}

/** Layer blobs of the mounts among `ids` that exist in `root`. */
export async function packCacheMounts(ids: string[], root: string, content: ContentStore, signal?: AbortSignal): Promise<PackedMount[]> {
  const out: PackedMount[] = [];
  for (const id of ids) {
    const { data } = dataDir(root, id);
    const st = await stat(data).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const layer = await createLayer({ layerDir: data, content, ...(signal ? { signal } : {}) });
    out.push({ id, layer, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }
  return out;
}

/**
 * Restore `mount` into `root` unless this store has that mount already; `fetch` brings its blob into
 * `content` first. Returns false when it was there.
 */
export async function restoreCacheMount(mount: ImportedMount, root: string, content: ContentStore, fetch: () => Promise<void>, signal?: AbortSignal): Promise<boolean> {
  const { base, data } = dataDir(root, mount.id);
  if (await stat(data).catch(() => undefined)) return false;
  await fetch();
  await mkdir(base, { recursive: true });
  await writeFile(join(base, 'id'), mount.id);
  const tmp = join(base, `.new-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    await applyLayer({ content, descriptor: mount.layer.descriptor, layerDir: tmp, diffID: mount.layer.diffID, ...(signal ? { signal } : {}) });
    await chmod(tmp, mount.mode);
    await chown(tmp, mount.uid, mount.gid);
    await rename(tmp, data).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // a build made it meanwhile: keep theirs
    });
    return true;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
