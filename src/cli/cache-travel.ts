/**
 * The build's `--cache-from` / `--cache-to` (src/cache/remote does the work): sources are loaded before the
 * solve (a source that cannot be read is a warning, and the build goes on without it); exports run after the
 * image is written (a failed export fails the build saying so, or is a warning with ignore-error=true).
 */
import { resolve } from 'node:path';
import type { ContentStore } from '../content/types.js';
import type { BlobFetcher } from '../content/fetch.js';
import { TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { prepareLayers } from '../diff/variants.js';
import { normalizeReference } from '../image/reference.js';
import type { BuildResult } from '../llb/result.js';
import type { ProgressSink } from '../progress/types.js';
import type { RegistryClient } from '../registry/client.js';
import type { BlobSources } from '../registry/sources.js';
import type { Snapshotter } from '../snapshot/types.js';
import type { CacheStore } from '../cache/store.js';
import { collectCache, inlineCache, payloadLayers, withLayers, type CachePayload } from '../cache/remote/export.js';
import { ImportedCache, type CacheSource } from '../cache/remote/imported.js';
import { loadLocalSource, writeLocalCache } from '../cache/remote/local-dir.js';
import { loadRegistrySource, pushRegistryCache } from '../cache/remote/registry.js';
import { packCacheMounts, restoreCacheMount, type PackedMount } from '../cache/remote/mounts.js';
import type { CacheSpec } from './cache-specs.js';

export interface CacheTravelDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  registry: () => Promise<RegistryClient>;
  progress: ProgressSink;
  /** The build's one blob fetcher (src/content/fetch.ts): lazy cache blobs come through it. */
  blobs: BlobFetcher;
  signal?: AbortSignal;
}

function label(spec: CacheSpec): string {
  return spec.type === 'registry' ? normalizeReference(spec.target) : spec.target;
}

async function step<T>(progress: ProgressSink, id: string, name: string, fn: () => Promise<T>): Promise<T> {
  const at = Date.now();
  progress.emit({ type: 'vertex.started', id, name, at });
  try {
    return await fn();
  } finally {
    progress.emit({ type: 'vertex.done', id, name, at: Date.now(), durationMs: Date.now() - at });
  }
}

/** Load every `--cache-from` source; one that fails is a warning. */
export async function loadCacheSources(specs: CacheSpec[], deps: CacheTravelDeps): Promise<ImportedCache | undefined> {
  if (specs.length === 0) return undefined;
  const sources: CacheSource[] = [];
  for (const [i, spec] of specs.entries()) {
    const name = label(spec);
    try {
      const src = await step(deps.progress, `cache-from:${i}`, `importing cache manifest from ${name}`, () =>
        spec.type === 'local' ? loadLocalSource(resolve(spec.target), spec.target) : deps.registry().then((c) => loadRegistrySource(c, name, deps.content, deps.signal)),
      );
      sources.push(src);
    } catch (err) {
      if (deps.signal?.aborted) throw err;
      deps.progress.emit({ type: 'warning', message: `--cache-from ${name}: ${(err as Error).message}; building without this cache source` });
    }
  }
  return new ImportedCache(sources, { content: deps.content, snapshotter: deps.snapshotter, blobs: deps.blobs });
}

/** Restore the cache mounts among `ids` that a source has and this store lacks; a failure is a warning. */
export async function restoreCacheMounts(imported: ImportedCache | undefined, ids: string[], dir: string, deps: CacheTravelDeps): Promise<void> {
  for (const id of ids) {
    const m = imported?.mount(id);
    if (!m) continue;
    try {
      await step(deps.progress, `cache-mount:${id}`, `restoring cache mount ${id} from ${m.source}`, () =>
        restoreCacheMount(m, dir, deps.content, () => deps.blobs.ensure(m.layer.descriptor, deps.signal), deps.signal),
      );
    } catch (err) {
      if (deps.signal?.aborted) throw err;
      deps.progress.emit({ type: 'warning', message: `--cache-from ${m.source}: cache mount ${id}: ${(err as Error).message}; starting it empty` });
    }
  }
}

/**
 * Before a push: blobs only a registry cache source has are recorded as living in its repository, so the
 * push mounts them (same registry) instead of downloading them.
 */
export async function noteLazySources(imported: ImportedCache | undefined, layers: Descriptor[], content: ContentStore, sources: BlobSources): Promise<void> {
  if (!imported) return;
  for (const d of layers) {
    if (await content.has(d.digest)) continue;
    const repo = imported.sourceOf(d.digest)?.repository;
    if (repo) await sources.add(d.digest, { domain: repo.domain, repository: repo.path });
  }
}

/** `--cache-to type=inline`: the image config field carrying the records of the image's chain (mode=min). */
export function inlineCacheOf(result: BuildResult): { field: Record<string, unknown>; records: number } {
  return inlineCache(result.cacheSteps ?? [], result.layers);
}

/** Run every `--cache-to`; returns their messages. Throws after all ran when one failed without ignore-error. */
/** `payload` with its layers in the compression `spec` asks for (a lazy blob is fetched first: it is read). */
async function compressAs(spec: CacheSpec, payload: CachePayload, content: ContentStore, ensureBlob: (d: Descriptor) => Promise<void>, signal?: AbortSignal): Promise<CachePayload> {
  if (spec.layers.compression === undefined && !spec.layers.force) return payload;
  const layers = payloadLayers(payload);
  for (const l of layers) await ensureBlob(l.descriptor);
  const converted = await prepareLayers(layers, spec.layers, content, signal); // as an output's compression= (src/diff/variants.ts)
  return withLayers(payload, converted.map((l) => l.descriptor));
}

export async function exportCaches(
  specs: CacheSpec[],
  result: BuildResult,
  deps: CacheTravelDeps & { cache: CacheStore; imported: ImportedCache | undefined; sources: () => Promise<BlobSources>; mounts: { ids: string[]; dir: string }; memo?: (spec: CacheSpec) => unknown },
): Promise<string[]> {
  let packed: Promise<PackedMount[]> | undefined;
  const messages: string[] = [];
  const failed: string[] = [];
  const ensureBlob = (d: Descriptor): Promise<void> => deps.blobs.ensure(d, deps.signal);
  for (const [i, spec] of specs.entries()) {
    if (spec.type === 'inline') continue; // written with the image config (build.ts)
    const name = label(spec);
    try {
      const msg = await step(deps.progress, `cache-to:${i}`, `exporting cache to ${name} (mode=${spec.mode})`, async () => {
        const collected = await collectCache(result.cacheSteps ?? [], spec.mode, {
          content: deps.content,
          snapshotter: deps.snapshotter,
          cache: deps.cache,
          lazyBlob: (digest) => deps.imported?.sourceOf(digest) !== undefined,
          memo: deps.memo?.(spec),
          ...(spec.cacheMounts ? { mounts: await (packed ??= packCacheMounts(deps.mounts.ids, deps.mounts.dir, deps.content, deps.signal)) } : {}),
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
        const payload = await compressAs(spec, collected, deps.content, ensureBlob, deps.signal);
        if (spec.type === 'local') {
          await writeLocalCache(resolve(spec.target), payload, async (d) => {
            await ensureBlob(d);
            return deps.content.path(d.digest);
          }, deps.signal);
          return `exported ${payload.records.length} cache records${spec.cacheMounts ? ` and ${payload.mounts} cache mounts` : ''} to ${name}`;
        }
        await noteLazySources(deps.imported, payload.layers, deps.content, await deps.sources());
        const how = await pushRegistryCache(await deps.registry(), name, payload, { content: deps.content, ensureBlob, ...(deps.signal ? { signal: deps.signal } : {}) });
        return `exported ${payload.records.length} cache records${spec.cacheMounts ? ` and ${payload.mounts} cache mounts` : ''} to ${name} (${how})`;
      });
      messages.push(msg);
    } catch (err) {
      if (deps.signal?.aborted) throw err;
      const why = `cache export to ${name} failed: ${(err as Error).message}`;
      if (spec.ignoreError) deps.progress.emit({ type: 'warning', message: `${why} (ignored: ignore-error=true)` });
      else failed.push(why);
    }
  }
  if (failed.length) throw new TsbuildError('CACHE_EXPORT_FAILED', `${failed.join('; ')} (the image was written)`);
  return messages;
}
