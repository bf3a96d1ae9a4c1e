/**
 * Healing a cache hit whose snapshot is gone (a crash, a manual cleanup, a damaged disk): when the
 * record memoized its layer blob, the snapshot is made again by applying that layer onto the parent's
 * snapshot (containerd's unpack): in place when only its own dir is gone (Snapshotter.refill), else under
 * the record's name, or a fresh variant of it when a broken snapshot still holds the name. The scheduler asks only for hits whose snapshot it is about to use
 * (./scheduler.ts `hitSnapshot`), so an unchanged build does not pay for it.
 */
import { stat } from 'node:fs/promises';
import { DigestMismatchError } from '../src/errors.js';
import type { ContentStore } from '../src/content/types.js';
import { applyLayer } from '../src/diff/apply.js';
import type { Layer } from '../src/image/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import { commitSnapshot, tempKey } from './ops/commit.js';

/** Whether committed snapshot `name` can be mounted: it and every ancestor have metadata and a layer dir. */
export async function snapshotUsable(snapshotter: Snapshotter, name: string): Promise<boolean> {
  const seen = new Set<string>();
  for (let key: string | undefined = name; key !== undefined && !seen.has(key); ) {
    seen.add(key);
    const info = await snapshotter.stat(key);
    if (info?.kind !== 'committed') return false;
    const dir = await snapshotter.layerDir(key).catch(() => undefined);
    if (!dir || !(await stat(dir).catch(() => undefined))?.isDirectory()) return false;
    key = info.parent;
  }
  return true;
}

/** Make snapshot `name` again from `layer` on top of `parent`; returns the committed name. */
export async function restoreSnapshot(
  deps: { snapshotter: Snapshotter; content: ContentStore },
  name: string,
  parent: string | null,
  layer: Layer,
  signal: AbortSignal,
): Promise<string> {
  const { snapshotter, content } = deps;
  const apply = async (layerDir: string) => {
    const { diffID } = await applyLayer({ content, descriptor: layer.descriptor, layerDir, signal });
    if (diffID !== layer.diffID) throw new DigestMismatchError(layer.diffID, diffID, `layer ${layer.descriptor.digest} (uncompressed)`);
  };
  // Its metadata still there, on the same parent, only its own dir gone: made again in place, so the
  // store holds no broken snapshot afterwards (and snapshots based on it are whole again).
  const info = await snapshotter.stat(name);
  if (info?.kind === 'committed' && (info.parent ?? null) === parent && (parent === null || (await snapshotUsable(snapshotter, parent)))) {
    await snapshotter.refill(name, apply);
    if (await snapshotUsable(snapshotter, name)) return name;
  }
  const active = tempKey('restore');
  await snapshotter.prepare(active, parent ?? undefined);
  try {
    await apply(await snapshotter.layerDir(active));
    // A name still held by a broken snapshot (its directory or an ancestor gone) gets a fresh variant.
    const broken = (await snapshotter.stat(name)) !== undefined;
    return await commitSnapshot(snapshotter, name, active, broken);
  } catch (err) {
    await snapshotter.remove(active).catch(() => {});
    throw err;
  }
}
