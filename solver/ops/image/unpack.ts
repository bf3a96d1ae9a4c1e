/**
 * Source ops. scratch and local have no snapshot of their own (a local source is read directly by the file
 * ops that copy from it). An image is unpacked layer by layer into committed snapshots named by chain ID
 * (`chain:sha256:…`), so images that share base layers share snapshots, and an unpacked layer is never
 * unpacked again.
 */
import { DigestMismatchError, TsbuildError } from '../../../src/errors.js';
import type { ContentStore } from '../../../src/content/types.js';
import { applyLayer } from '../../../src/diff/apply.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import type { ResolvedImage } from './resolve.js';
import { commitSnapshot, tempKey } from '../commit.js';

export function chainSnapshotName(chainID: string): string {
  return `chain:${chainID}`;
}

/**
 * Make sure every layer of `image` is unpacked; returns the snapshot of the whole image (null for an image
 * without layers). Layers already unpacked (by this or a concurrent build) are skipped.
 */
export async function unpackImage(
  image: ResolvedImage,
  deps: { snapshotter: Snapshotter; content: ContentStore; signal: AbortSignal },
): Promise<string | null> {
  const { snapshotter, content, signal } = deps;
  let parent: string | undefined;
  for (let i = 0; i < image.layers.length; i++) {
    const name = chainSnapshotName(image.chainIDs[i]!);
    if (await snapshotter.stat(name)) {
      parent = name;
      continue;
    }
    if (signal.aborted) throw signal.reason ?? new TsbuildError('CANCELED', 'build canceled');
    const layer = image.layers[i]!;
    const active = tempKey('unpack');
    await snapshotter.prepare(active, parent);
    try {
      const layerDir = await snapshotter.layerDir(active);
      const { diffID } = await applyLayer({ content, descriptor: layer.descriptor, layerDir, signal });
      if (diffID !== layer.diffID) throw new DigestMismatchError(layer.diffID, diffID, `layer ${layer.descriptor.digest} (uncompressed)`);
      await commitSnapshot(snapshotter, name, active);
    } catch (err) {
      await snapshotter.remove(active).catch(() => {});
      throw err;
    }
    parent = name;
  }
  return parent ?? null;
}
