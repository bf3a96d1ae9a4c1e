/**
 * Source ops. scratch and local have no snapshot of their own (a local source is read directly by the file
 * ops that copy from it). An image is unpacked layer by layer into committed snapshots named by chain ID
 * (`chain:sha256:…`), so images that share base layers share snapshots, and an unpacked layer is never
 * unpacked again. A layer blob the store lacks is fetched through `blobs.ensure` (a base image resolved
 * lazily, without its layers: src/cli/resolve-image.ts): every absent layer of the layers still to unpack is
 * fetched at once, each applied as soon as it and its parent are there. A corrupt blob is fetched again
 * through `blobs.fetchAgain` (once) when it came from a registry; otherwise the error says to run
 * `tsbuild doctor --fix`.
 * A layer can also be unpacked while it downloads (`unpackWhilePulling`, the pull's tee): its chain snapshot
 * is then committed by the pull, and `unpackImage` finds it done.
 */
import { PassThrough } from 'node:stream';
import { DigestMismatchError, NotFoundError, StoreError, TsbuildError } from '../../../src/errors.js';
import type { BlobRecovery, ContentStore } from '../../../src/content/types.js';
import type { ImageConfig, Layer, Manifest } from '../../../src/image/types.js';
import { applyLayer } from '../../../src/diff/apply.js';
import type { BlobTee } from '../../../src/registry/index.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import { chainIDs, type ResolvedImage } from './resolve.js';
import { commitSnapshot, tempKey } from '../commit.js';

export function chainSnapshotName(chainID: string): string {
  return `chain:${chainID}`;
}

/**
 * Make sure every layer of `image` is unpacked; returns the snapshot of the whole image (null for an image
 * without layers). Layers already unpacked (by this or a concurrent build) are skipped. `name`: the image as
 * messages name it.
 */
export async function unpackImage(
  image: ResolvedImage,
  deps: { snapshotter: Snapshotter; content: ContentStore; signal: AbortSignal; blobs?: BlobRecovery; name?: string },
): Promise<string | null> {
  const { snapshotter, signal } = deps;
  const names = image.layers.map((_, i) => chainSnapshotName(image.chainIDs[i]!));
  const done = await Promise.all(names.map((n) => snapshotter.stat(n)));
  // The absent blobs of the layers still to unpack are fetched together (lazy base layers), not one by one.
  const fetching = new AbortController();
  const stop = () => fetching.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  const fetches = image.layers.map((layer, i) => (done[i] ? undefined : ensureLayer(layer, deps, fetching.signal)));
  for (const f of fetches) f?.catch(() => {});
  try {
    let parent: string | undefined;
    for (let i = 0; i < image.layers.length; i++) {
      const name = names[i]!;
      const layer = image.layers[i]!;
      if (done[i] || (await snapshotter.stat(name))) {
        // Unpacked before; its layer dir may be gone (metadata left by a crash or a manual cleanup): made
        // again in place from the layer, so the snapshots based on it stay valid.
        await snapshotter.refill(name, async (layerDir) => {
          await ensureLayer(layer, deps, signal);
          await applyOrFetchAgain(layer, layerDir, deps);
        });
        parent = name;
        continue;
      }
      if (signal.aborted) throw signal.reason ?? new TsbuildError('CANCELED', 'build canceled');
      await fetches[i];
      const active = tempKey('unpack');
      await snapshotter.prepare(active, parent);
      try {
        const layerDir = await snapshotter.layerDir(active);
        await applyOrFetchAgain(layer, layerDir, deps);
        await commitSnapshot(snapshotter, name, active);
      } catch (err) {
        await snapshotter.remove(active).catch(() => {});
        throw err;
      }
      parent = name;
    }
    // A layer another build unpacked meanwhile may still be downloading: nothing writes after the op ends.
    await Promise.allSettled(fetches.filter((f) => f !== undefined));
    return parent ?? null;
  } catch (err) {
    // Nothing keeps writing after the op failed: the other fetches stop, and are waited for.
    fetching.abort(err);
    await Promise.allSettled(fetches.filter((f) => f !== undefined));
    throw err;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/**
 * Bring an absent layer blob into the store (a lazy base layer). A fetch that fails is an error naming the
 * image, the layer and why; a blob no origin knows stays absent (applyOrFetchAgain's error names it).
 */
async function ensureLayer(layer: Layer, deps: { content: ContentStore; blobs?: BlobRecovery; name?: string }, signal: AbortSignal): Promise<void> {
  const { digest } = layer.descriptor;
  if (!deps.blobs || (await deps.content.has(digest))) return;
  try {
    await deps.blobs.ensure(layer.descriptor, signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    const what = deps.name ? `base image ${deps.name}: layer` : 'layer';
    throw new NotFoundError('BLOB_FETCH_FAILED', `${what} ${digest} is not in the local store yet and could not be fetched from its registry: ${(err as Error).message}`, {
      hint: 'the image was resolved without its layers (a build with --cache-from); make its registry reachable, or pull the image again (`--pull`)',
      cause: err,
    });
  }
}

async function applyVerified(layer: Layer, layerDir: string, deps: { content: ContentStore; signal: AbortSignal }): Promise<void> {
  const { diffID } = await applyLayer({ content: deps.content, descriptor: layer.descriptor, layerDir, signal: deps.signal });
  if (diffID !== layer.diffID) throw new DigestMismatchError(layer.diffID, diffID, `layer ${layer.descriptor.digest} (uncompressed)`);
}

/** Apply a layer (its blob fetched by ensureLayer when it could be); a corrupt blob is fetched again (when it can be) and applied once more. */
async function applyOrFetchAgain(layer: Layer, layerDir: string, deps: { content: ContentStore; signal: AbortSignal; blobs?: BlobRecovery; name?: string }): Promise<void> {
  const { digest } = layer.descriptor;
  const hint = 'run `tsbuild doctor --fix` (it removes what is broken), then pull, load or build the image again';
  if (!(await deps.content.has(digest))) {
    throw new NotFoundError('BLOB_NOT_FOUND', `${deps.name ? `base image ${deps.name}: ` : ''}layer ${digest} is missing from the content store and no registry is known to have it`, { hint });
  }
  try {
    await applyVerified(layer, layerDir, deps);
  } catch (err) {
    if (deps.signal.aborted || (err instanceof TsbuildError && err.code === 'LAYER_DIR_NOT_EMPTY')) throw err;
    // The blob does not unpack to its diffID (or not at all): it is corrupt.
    if (!(await deps.blobs?.fetchAgain(layer.descriptor, deps.signal))) {
      throw new StoreError('BLOB_CORRUPT', `layer ${digest} in the content store is corrupt (${(err as Error).message}) and cannot be fetched again`, { hint, cause: err });
    }
    await applyVerified(layer, layerDir, deps);
  }
}

/**
 * The pull's tee for base layers (src/registry/pull.ts): layer `index` is unpacked into a new active
 * snapshot while it downloads, when its parent's chain snapshot is already committed (always for the first
 * layer) and its own is not. The bytes go to applyLayer as they arrive, which hashes them: the snapshot is
 * committed as `chain:<chainID>` only after the content store verified and committed the blob, applyLayer's
 * own hash of exactly the bytes it unpacked equals the layer's digest, and the uncompressed bytes hash to the
 * config's diffID. Until then it is an active snapshot nothing mounts (removed on failure; after a crash,
 * by the snapshotter's cleanup of a dead process's active snapshots). Any failure leaves the layer to
 * `unpackImage`, which applies the stored blob and reports errors as before.
 */
export function unpackWhilePulling(deps: { snapshotter: Snapshotter; content: ContentStore }): (image: { manifest: Manifest; config: ImageConfig }, index: number) => Promise<BlobTee | undefined> {
  const { snapshotter, content } = deps;
  return async ({ manifest, config }, index) => {
    const diffIDs = config.rootfs?.diff_ids ?? [];
    const descriptor = manifest.layers[index];
    if (!descriptor || diffIDs.length !== manifest.layers.length) return undefined;
    const chain = chainIDs(diffIDs);
    const name = chainSnapshotName(chain[index]!);
    if (await snapshotter.stat(name)) return undefined;
    const parent = index === 0 ? undefined : chainSnapshotName(chain[index - 1]!);
    if (parent !== undefined && (await snapshotter.stat(parent))?.kind !== 'committed') return undefined;
    const active = tempKey('unpack');
    await snapshotter.prepare(active, parent);
    const source = new PassThrough({ highWaterMark: 4 << 20 });
    let applying: Promise<unknown>;
    try {
      const layerDir = await snapshotter.layerDir(active);
      applying = applyLayer({ content, descriptor, diffID: diffIDs[index]!, layerDir, source });
    } catch (err) {
      await snapshotter.remove(active).catch(() => {});
      throw err;
    }
    // Settles when the apply fails early (a bad tar) or ends before its source does: write must not wait for a drain then.
    const stopped = applying.then(
      () => Promise.reject(new TsbuildError('INTERNAL', 'layer unpack ended before its download')),
      (err: unknown) => Promise.reject(err),
    );
    stopped.catch(() => {});
    return {
      async write(chunk) {
        if (!source.write(chunk)) await Promise.race([new Promise((resolve) => source.once('drain', resolve)), stopped]);
      },
      async commit() {
        source.end();
        await applying;
        await commitSnapshot(snapshotter, name, active);
      },
      async abort() {
        source.destroy();
        await applying.catch(() => {});
        await snapshotter.remove(active).catch(() => {});
      },
    };
  };
}
