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
import { CACHE_ARTIFACT_TYPE, CacheFormatError, parseCacheConfigFull, parseCacheManifest } from './format.js';
import type { CacheSource } from './imported.js';
import type { CachePayload } from './export.js';

export async function loadRegistrySource(client: RegistryClient, ref: string, content: ContentStore, signal?: AbortSignal): Promise<CacheSource> {
  const r = parseReference(ref);
  let m = await client.manifest(r, signal);
  if (isIndexType(m.mediaType)) {
    const index = JSON.parse(m.bytes.toString('utf8')) as Index;
    const child = (Array.isArray(index.manifests) ? index.manifests : []).find((d) => (d as Descriptor & { artifactType?: string }).artifactType === CACHE_ARTIFACT_TYPE);
    if (!child) throw new CacheFormatError(`${ref} is an index with no tsbuild cache manifest`);
    m = await client.manifest({ ...r, digest: child.digest }, signal);
  }
  const manifest = parseCacheManifest(m.bytes);
  await client.pullBlobs(r, [manifest.config], { content, ...(signal ? { signal } : {}) });
  const { records, mounts } = parseCacheConfigFull(await content.read(manifest.config.digest), manifest, ref);
  return {
    label: ref,
    records,
    mounts,
    repository: { domain: r.domain, path: r.path },
    fetchBlob: (d, store, sig) => client.pullBlobs(r, [d], { content: store, ...(sig ? { signal: sig } : {}) }),
  };
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
