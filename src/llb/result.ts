import type { ImageConfig, Layer } from '../image/types.js';

/**
 * What the solver hands to exporters. Exporters never see solver internals.
 * - `layers`: the target's layer chain, base image layers first; every blob is in the ContentStore.
 * - `image`: the target image config with `rootfs.diff_ids` equal to the layers' diffIDs (same order)
 *   and `history` aligned (one non-empty_layer entry per layer).
 * - `snapshot`: committed snapshot name of the target rootfs (for exporters that write files), or
 *   null when the rootfs is empty (FROM scratch with no changes).
 */
export interface BuildResult {
  layers: Layer[];
  image: ImageConfig;
  snapshot: string | null;
  vertices: VertexSummary[];
  /**
   * When the newest layer of the chain was first built (ISO 8601), from the cache. Exporters use it
   * as the image's `created` time (unless SOURCE_DATE_EPOCH says otherwise), so an unchanged rebuild
   * gives a byte-identical image.
   */
  created?: string;
  /** Every exec/file step of the build with what a cache export needs (src/cache/remote/export.ts). */
  cacheSteps?: CacheStep[];
}

/**
 * The cache steps of several results solved together (a multi-platform build): each key once, `chain` when it is
 * in any result's chain. Keys of platform-dependent steps differ per platform, so every platform keeps its records.
 */
export function mergeCacheSteps(results: Pick<BuildResult, 'cacheSteps'>[]): CacheStep[] {
  const byKey = new Map<string, CacheStep>();
  for (const s of results.flatMap((r) => r.cacheSteps ?? [])) {
    const prev = byKey.get(s.key);
    byKey.set(s.key, prev ? { ...prev, ...s, chain: prev.chain || s.chain, ...(prev.layer && !s.layer ? { layer: prev.layer } : {}) } : s);
  }
  return [...byKey.values()];
}

/** One step's cache facts, for exporting the cache (--cache-to). */
export interface CacheStep {
  key: string;
  /** The key of the step whose snapshot this one sits on (its first input; scratch has a key too). */
  parent?: string;
  /** Part of the output image's layer chain (mode=min exports only these). */
  chain: boolean;
  /** Its committed snapshot, when it exists on this machine. */
  snapshot?: string;
  /** Its layer, when known (memoized, or from a cache source). */
  layer?: Layer;
  created?: string;
  name: string;
}

export interface VertexSummary {
  id: string;
  name: string;
  cached: boolean;
  durationMs: number;
  /** The step's cache key (`sha256:…`). */
  cacheKey?: string;
  /**
   * Steps that ran: why the cache did not hit, one sentence each, e.g. `file changed: src/a.txt (content)`,
   * `build arg/env changed: VERSION (value)`, `parent step changed ([2/4] RUN make)`, `--no-cache`.
   */
  cacheMiss?: string[];
  /** Cached steps: when the cached result was first built (ISO 8601). */
  cachedFrom?: string;
  /** Cached steps found in a --cache-from source (not in the local cache): that source. */
  cacheSource?: string;
}
