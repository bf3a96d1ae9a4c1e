/**
 * RUN --mount=type=cache directories: `<store>/cachemounts/<sha256(id)>/` holds `id` (the id, for
 * listing and pruning) and `data/` (the cache itself); a `private` mount that finds `data` in use
 * gets `p<n>/` instead. Never part of a snapshot, a layer or a cache key.
 *
 * sharing: `shared` lets concurrent steps use one directory; `locked` makes them take turns (within
 * this tsbuild process); `private` gives a concurrent step its own directory.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../../src/llb/digest.js';
import type { CacheMountSpec } from '../../../src/llb/types.js';

export interface AcquiredCache {
  dir: string;
  release(): void;
}

const inUse = new Map<string, number>();
const locks = new Map<string, Promise<void>>();

/**
 * The directory for `spec`, created on first use (seeded by `seed(dir)` when given, then given the
 * spec's mode and owner). Call release() when the step ends.
 */
export async function acquireCacheMount(root: string, spec: CacheMountSpec, seed?: (dir: string) => Promise<void>): Promise<AcquiredCache> {
  const base = join(root, sha256(spec.id).replace(/^sha256:/, ''));
  await mkdir(base, { recursive: true });
  await writeFile(join(base, 'id'), spec.id);
  let dir = join(base, 'data');
  let unlock: (() => void) | undefined;
  if (spec.sharing === 'private') {
    for (let k = 1; (inUse.get(dir) ?? 0) > 0; k++) dir = join(base, `p${k}`);
  } else if (spec.sharing === 'locked') {
    const prev = locks.get(dir) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const chained = prev.then(() => mine);
    locks.set(dir, chained);
    await prev;
    unlock = () => {
      done();
      if (locks.get(dir) === chained) locks.delete(dir);
    };
  }
  inUse.set(dir, (inUse.get(dir) ?? 0) + 1);
  let released = false;
  try {
    if (!(await stat(dir).catch(() => undefined))) {
      const tmp = join(base, `.new-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(tmp);
      try {
        if (seed) await seed(tmp);
        await chmod(tmp, spec.mode);
        await chown(tmp, spec.uid, spec.gid);
        await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
          // Another step created it first: use theirs.
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  function release(): void {
    if (released) return;
    released = true;
    const n = (inUse.get(dir) ?? 1) - 1;
    if (n <= 0) inUse.delete(dir);
    else inUse.set(dir, n);
    unlock?.();
  }
  return { dir, release };
}
