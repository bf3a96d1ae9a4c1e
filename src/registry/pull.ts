/**
 * Pulling an image: the top-level manifest (an index is resolved to the wanted platform), the config and
 * the layers (concurrently, on a p-queue), each verified against its digest before it enters the
 * ContentStore. Pulled blobs are recorded as living in this repository (for cross-repository mounts).
 * `layers: false` fetches the manifests and config only and records each layer as living in this repository
 * (the registry says so): a lazy base image, whose layers `BlobFetcher` (src/content/fetch.ts) fetches from
 * there when something needs them, verified like every pull; a push to this registry mounts them.
 */
import { binarySize } from '../units/bytes.js';
import PQueue from 'p-queue';
import type { ContentStore } from '../content/types.js';
import { NotFoundError } from '../errors.js';
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from '../image/types.js';
import type { ParsedReference } from '../image/reference.js';
import type { ProgressSink } from '../progress/types.js';
import { byteProgress } from '../progress/bytes.js';
import { pullBlob, type BlobTee } from './blob-pull.js';
import { fetchManifest, isIndexType } from './manifest.js';
import { formatPlatform, selectPlatform } from '../image/platform.js';
import type { BlobSources } from './sources.js';
import type { RegistryTransport } from './transport.js';

export interface PullOptions {
  content: ContentStore;
  platform: Platform;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Layer downloads at once; default 4. */
  concurrency?: number;
  /** Also download the layers (default true); false fetches manifests and config only (and records where the layers live in `sources`). */
  layers?: boolean;
  sources?: BlobSources;
  /**
   * A consumer for layer `index` of `image` while it downloads (the build unpacks base layers this way:
   * solver/ops/image/unpack.ts); undefined: none. Only layers not in the store yet are downloaded.
   */
  tee?: (image: { manifest: Manifest; config: ImageConfig }, index: number) => Promise<BlobTee | undefined>;
}

export interface PulledImage {
  /** What the reference names: an index or a manifest. */
  target: Descriptor;
  /** The platform's manifest. */
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
}

export async function pullImage(t: RegistryTransport, ref: ParsedReference, opts: PullOptions): Promise<PulledImage> {
  const { content, signal } = opts;
  const path = ref.path;
  const name = `${ref.domain}/${path}`;
  const top = await fetchManifest(t, { path, reference: ref.digest ?? ref.tag ?? 'latest' }, signal);
  await content.put(top.bytes, { expected: top.digest, size: top.size });
  const target: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size };
  let m = top;
  if (isIndexType(top.mediaType)) {
    const index = JSON.parse(top.bytes.toString('utf8')) as Index;
    const pick = selectPlatform(index.manifests, opts.platform);
    if (!pick) {
      const have = index.manifests.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
      throw new NotFoundError('IMAGE_PLATFORM_NOT_FOUND', `${name}: no manifest for ${formatPlatform(opts.platform)} (the image has: ${have})`);
    }
    m = await fetchManifest(t, { path, reference: pick.digest }, signal);
    await content.put(m.bytes, { expected: m.digest, size: m.size });
  }
  const manifest = JSON.parse(m.bytes.toString('utf8')) as Manifest;
  await pullBlob(t, path, manifest.config, content, signal ? { signal } : {});
  const config = JSON.parse((await content.read(manifest.config.digest)).toString('utf8')) as ImageConfig;
  if (opts.layers !== false) await pullLayers(t, path, manifest.layers, opts, { manifest, config });
  else if (opts.sources) await Promise.all(manifest.layers.map((d) => opts.sources!.add(d.digest, { domain: t.domain, repository: path })));
  return { target, manifestDigest: m.digest, manifest, config };
}

/** Download the layers missing from the store, `concurrency` at once (through `opts.tee` when `image` is given). */
export async function pullLayers(t: RegistryTransport, path: string, layers: Descriptor[], opts: PullOptions, image?: { manifest: Manifest; config: ImageConfig }): Promise<void> {
  const { content, progress, signal } = opts;
  const queue = new PQueue({ concurrency: opts.concurrency ?? 6 });
  const jobs = layers.map((d, index) =>
    queue.add(async () => {
      if (await content.has(d.digest)) {
        await opts.sources?.add(d.digest, { domain: t.domain, repository: path });
        return;
      }
      const id = `pull:${d.digest}`;
      const name = `pulling ${d.digest.slice(7, 19)} (${binarySize(d.size)})`;
      const at = Date.now();
      progress?.emit({ type: 'vertex.started', id, name, at });
      const tee = image && opts.tee ? await opts.tee(image, index).catch(() => undefined) : undefined; // best effort
      if (tee) progress?.emit({ type: 'vertex.status', id, name: 'extracting', at });
      await pullBlob(t, path, d, content, { ...(signal ? { signal } : {}), onBytes: byteProgress(progress, id, name), ...(tee ? { tee } : {}) });
      await opts.sources?.add(d.digest, { domain: t.domain, repository: path });
      progress?.emit({ type: 'vertex.done', id, name, at: Date.now(), durationMs: Date.now() - at });
    }),
  );
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

