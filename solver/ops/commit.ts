import { randomBytes } from 'node:crypto';
import { StoreError } from '../../src/errors.js';
import type { Snapshotter } from '../../src/snapshot/types.js';

/** `sha256:<hex>` → `<hex>`, for snapshot names derived from cache keys. */
export function keyHex(key: string): string {
  return key.startsWith('sha256:') ? key.slice(7) : key;
}

/** A fresh name for a temporary active snapshot or view. */
export function tempKey(prefix: string): string {
  return `${prefix}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

/**
 * Commit active snapshot `active` as `name`. When `name` already exists (a concurrent build committed the
 * same result first) that is success: the own active snapshot is removed and `name` is used — unless
 * `fresh` (--no-cache) asks for this run's own result, which is then committed under a unique variant of `name`.
 * Returns the committed name.
 */
export async function commitSnapshot(snapshotter: Snapshotter, name: string, active: string, fresh = false): Promise<string> {
  try {
    await snapshotter.commit(name, active);
    return name;
  } catch (err) {
    if (!(err instanceof StoreError) || err.code !== 'SNAPSHOT_EXISTS') throw err;
  }
  if (fresh) {
    const unique = `${name}~${randomBytes(6).toString('hex')}`;
    await snapshotter.commit(unique, active);
    return unique;
  }
  await snapshotter.remove(active);
  return name;
}
