/** The stores `tsbuild du`, `prune` and `doctor` work on, opened from --root. */
import { join } from 'node:path';
import { CacheStore } from '../cache/store.js';
import type { GcDeps } from '../cache/gc.js';
import { LocalContentStore } from '../content/store.js';
import { LocalImageStore } from '../imagestore/store.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import { storeLayout, type StoreLayout } from './store-root.js';

export function openStores(root: string): GcDeps & { layout: StoreLayout; snapshotter: OverlaySnapshotter } {
  const layout = storeLayout(root);
  const snapshotter = new OverlaySnapshotter(layout.snapshots);
  return {
    layout,
    content: new LocalContentStore(layout.content),
    images: new LocalImageStore(layout.images),
    snapshotter,
    cache: new CacheStore({ dir: layout.cache, snapshotExists: async (name) => (await snapshotter.stat(name))?.kind === 'committed' }),
  };
}

/** Dirs counted as metadata by du: cache records, step memos, stat cache, image names, snapshot metadata. */
export function metadataDirs(layout: StoreLayout): string[] {
  return [join(layout.cache, 'records'), join(layout.cache, 'steps'), join(layout.cache, 'statcache'), layout.images, join(layout.snapshots, 'meta')];
}
