/**
 * What `--cache-to` exports: the steps of a build (BuildResult.cacheSteps) as cache records with their
 * layers. mode=min: the steps that make the output image's layers; mode=max: every exec/file step of every
 * stage built. A step whose layer is not known yet (an intermediate stage's step) gets one made from its
 * snapshot, memoized in its local cache record so the next export does not make it again. Secrets never
 * reach a layer (secret mounts are not in snapshots) nor a key (their values never enter keys).
 */
import { createHash } from 'node:crypto';
import type { ContentStore } from '../../content/types.js';
import { createLayer } from '../../diff/compare.js';
import { forExport } from '../../diff/variants.js';
import { MediaType, type Descriptor, type Layer } from '../../image/types.js';
import type { CacheStep } from '../../llb/result.js';
import type { Snapshotter } from '../../snapshot/types.js';
import type { CacheStore } from '../store.js';
import { CACHE_CONFIG_MEDIA_TYPE, INLINE_CACHE_FIELD, encodeCache, encodeInlineCache, type CacheConfigMount, type CacheConfigRecord } from './format.js';
import type { PackedMount } from './mounts.js';

export type CacheMode = 'min' | 'max';

export interface CachePayload {
  records: CacheConfigRecord[];
  /** How many cache mounts it carries. */
  mounts: number;
  /** The cache mounts' entries of the config. */
  mountRecords: CacheConfigMount[];
  layers: Descriptor[];
  config: Descriptor;
  configBytes: Buffer;
  manifest: Descriptor;
  manifestBytes: Buffer;
}

export interface CollectDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  cache: CacheStore;
  /** True when a cache source can supply the blob (a lazy blob need not be here). */
  lazyBlob(digest: string): boolean;
  /** cache-mounts=true: the build's cache mount contents (./mounts.ts), stored beside the records. */
  mounts?: PackedMount[];
  /** The travelling rebuild memo to carry in the config (src/cli/travel-memo.ts). */
  memo?: unknown;
  signal?: AbortSignal;
}

function descriptor(bytes: Buffer, mediaType: string): Descriptor {
  return { mediaType, digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** The cache of `steps` in `mode`, its config and manifest (not yet written anywhere). */
export async function collectCache(steps: CacheStep[], mode: CacheMode, deps: CollectDeps): Promise<CachePayload> {
  const chosen = steps.filter((s) => mode === 'max' || s.chain).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const layers: Descriptor[] = [];
  const at = new Map<string, number>();
  const records: CacheConfigRecord[] = [];
  for (const s of chosen) {
    const layer = await layerOf(s, deps);
    if (!layer) continue; // neither a layer nor a snapshot here: cannot be exported
    let i = at.get(layer.descriptor.digest);
    if (i === undefined) {
      i = layers.push(layer.descriptor) - 1;
      at.set(layer.descriptor.digest, i);
    }
    records.push({ key: s.key, ...(s.parent ? { parent: s.parent } : {}), layer: i, diffID: layer.diffID, created: s.created ?? new Date().toISOString(), name: s.name });
  }
  const mounts: CacheConfigMount[] = [];
  for (const m of deps.mounts ?? []) {
    let i = at.get(m.layer.descriptor.digest);
    if (i === undefined) {
      i = layers.push(m.layer.descriptor) - 1;
      at.set(m.layer.descriptor.digest, i);
    }
    mounts.push({ id: m.id, layer: i, diffID: m.layer.diffID, mode: m.mode, uid: m.uid, gid: m.gid });
  }
  const enc = encodeCache(records, layers, mounts, deps.memo);
  const config = descriptor(enc.config, CACHE_CONFIG_MEDIA_TYPE);
  const manifestBytes = enc.manifest(config);
  return { records, mounts: mounts.length, mountRecords: mounts, layers, config, configBytes: enc.config, manifest: descriptor(manifestBytes, MediaType.OciManifest), manifestBytes };
}

/**
 * `--cache-to type=inline`: the image config field carrying the records of the image's own chain (mode=min),
 * each naming its layer by its index in the image's layers (`layers`, in order). Returns the field and count.
 */
export function inlineCache(steps: CacheStep[], layers: Layer[]): { field: Record<string, unknown>; records: number } {
  const at = new Map<string, number>();
  layers.forEach((l, i) => {
    if (!at.has(l.diffID)) at.set(l.diffID, i);
  });
  const records: CacheConfigRecord[] = [];
  for (const s of [...steps].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const i = s.chain && s.layer ? at.get(s.layer.diffID) : undefined;
    if (i === undefined) continue;
    records.push({ key: s.key, ...(s.parent ? { parent: s.parent } : {}), layer: i, diffID: s.layer!.diffID, created: s.created ?? new Date().toISOString(), name: s.name });
  }
  return { field: { [INLINE_CACHE_FIELD]: encodeInlineCache(records) }, records: records.length };
}

/** The layers of `payload` with their diffIDs (every layer is named by a record or a mount). */
export function payloadLayers(payload: CachePayload): Layer[] {
  const diff = new Map<number, string>();
  for (const r of [...payload.records, ...payload.mountRecords]) diff.set(r.layer, r.diffID);
  return payload.layers.map((d, i) => ({ descriptor: d, diffID: diff.get(i)! }));
}

/** `payload` with its layers replaced by `layers` (same order: recompressed variants, same diffIDs). */
export function withLayers(payload: CachePayload, layers: Descriptor[]): CachePayload {
  const manifestBytes = encodeCache(payload.records, layers, payload.mountRecords).manifest(payload.config);
  return { ...payload, layers, manifest: descriptor(manifestBytes, MediaType.OciManifest), manifestBytes };
}

async function layerOf(s: CacheStep, deps: CollectDeps): Promise<Layer | undefined> {
  if (s.layer && (await deps.content.has(s.layer.descriptor.digest))) {
    // a layer the store keeps uncompressed travels gzip-compressed (its variant, memoized)
    return (await forExport([s.layer], deps.content, deps.signal))[0]!;
  }
  if (s.layer && deps.lazyBlob(s.layer.descriptor.digest)) return s.layer;
  if (!s.snapshot) return undefined;
  const layer = await createLayer({ layerDir: await deps.snapshotter.layerDir(s.snapshot), content: deps.content, ...(deps.signal ? { signal: deps.signal } : {}) });
  const rec = await deps.cache.get(s.key);
  if (rec && rec.snapshot === s.snapshot) await deps.cache.put({ ...rec, layer });
  return layer;
}
