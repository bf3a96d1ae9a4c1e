/**
 * `--cache-to type=registry,ref=REF` / `--cache-from REF`: the cache manifest (./format.ts) stored under a
 * tag like any image, with the distribution API calls pushes and pulls already make (src/registry), the
 * same credentials. Reading: the manifest is verified against the registry's digest, the config blob
 * against its descriptor; layer blobs are fetched only when needed (ImportedCache.ensureBlob), verified too.
 */
import type { ContentStore } from '../../content/types.js';
import { parseReference } from '../../image/reference.js';
import { isIndexType } from '../../registry/manifest.js';
import type { Descriptor, Index } from '../../image/types.js';
import type { RegistryClient } from '../../registry/client.js';
import { hostPlatform, selectPlatform } from '../../image/platform.js';
import { CACHE_ARTIFACT_TYPE, CacheFormatError, MAX_IMAGE_CONFIG_BYTES, isImageConfigType, parseCacheConfigFull, parseCacheManifest, parseInlineCache, parseManifestShape } from './format.js';
import type { CacheSource } from './imported.js';
import type { CachePayload } from './export.js';

/**
 * A registry cache source: a tsbuild cache manifest (or an index naming one), or an image pushed with
 * `--cache-to type=inline` (or an index whose entry for this host's platform is one): told apart by the
 * manifest's config media type.
 */
export async function loadRegistrySource(client: RegistryClient, ref: string, content: ContentStore, signal?: AbortSignal): Promise<CacheSource> {
  const r = parseReference(ref);
  let m = await client.manifest(r, signal);
  if (isIndexType(m.mediaType)) {
    let index: Index;
    try {
      index = JSON.parse(m.bytes.toString('utf8')) as Index;
    } catch {
      throw new CacheFormatError(`${ref}: the index is not JSON`);
    }
    const entries = (Array.isArray(index?.manifests) ? index.manifests : []).filter((d) => d && typeof d === 'object' && typeof d.digest === 'string');
    const child = entries.find((d) => (d as Descriptor & { artifactType?: string }).artifactType === CACHE_ARTIFACT_TYPE) ?? selectPlatform(entries, hostPlatform());
    if (!child) throw new CacheFormatError(`${ref} is an index with no tsbuild cache manifest and no image for this platform`);
    m = await client.manifest({ ...r, digest: child.digest }, signal);
  }
  const shape = parseManifestShape(m.bytes);
  const blobs = { label: ref, repository: { domain: r.domain, path: r.path }, fetchBlob: (d: Descriptor, store: ContentStore, sig?: AbortSignal) => client.pullBlobs(r, [d], { content: store, ...(sig ? { signal: sig } : {}) }) };
  if (isImageConfigType(shape.config.mediaType)) {
    if (shape.config.size > MAX_IMAGE_CONFIG_BYTES) throw new CacheFormatError(`the image config is too large (${shape.config.size} bytes)`);
    await client.pullBlobs(r, [shape.config], { content, ...(signal ? { signal } : {}) });
    return { ...blobs, records: parseInlineCache(await content.read(shape.config.digest), shape, ref), mounts: new Map() };
  }
  const manifest = parseCacheManifest(m.bytes);
  await client.pullBlobs(r, [manifest.config], { content, ...(signal ? { signal } : {}) });
  const { records, mounts } = parseCacheConfigFull(await content.read(manifest.config.digest), manifest, ref);
  return { ...blobs, records, mounts };
}

/** Push `payload` under `ref` (its layers skipped, mounted or uploaded as any push; lazy ones fetched only to upload). */
export async function pushRegistryCache(
  client: RegistryClient,
  ref: string,
  payload: CachePayload,
  opts: { content: ContentStore; ensureBlob: (d: Descriptor) => Promise<void>; signal?: AbortSignal },
): Promise<string> {
  await opts.content.put(payload.configBytes, { expected: payload.config.digest });
  await opts.content.put(payload.manifestBytes, { expected: payload.manifest.digest });
  const s = await client.push([ref], payload.manifest, { content: opts.content, ensureBlob: opts.ensureBlob, ...(opts.signal ? { signal: opts.signal } : {}) });
  return `${s.uploaded} uploaded, ${s.mounted} mounted, ${s.skipped} already there`;
}
