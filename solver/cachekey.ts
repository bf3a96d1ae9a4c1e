/**
 * Cache keys: what an op's result depends on, and nothing else. Each op kind's module (./ops/<kind>/) makes
 * its cache map, a typed map with a versioned tag; the key is sha256 of the map's canonical JSON.
 * Bump a tag's version whenever what the op produces for the same map changes, or what the map means
 * (each module's header keeps its map's history).
 */
import { canonicalJson, sha256 } from '../src/llb/digest.js';
import type { Op } from '../src/llb/types.js';
import { moduleOf, type KeyInput, type OpKind, type OpModules, type VersionedMap } from './ops/op.js';
import { OP_MODULES } from './ops/registry.js';
import type { KeyFacts } from './types.js';

export type { KeyInput } from './ops/op.js';
export { PROXY_ENV } from './ops/exec/index.js';

/** The current tag of each op kind's cache map. */
export const TAGS = Object.fromEntries(Object.values(OP_MODULES).map((m) => [m.kind, m.tag])) as { readonly [K in OpKind]: string };

/** Any op kind's cache map (each module's own type is narrower). */
export type CacheMap = VersionedMap & Record<string, unknown> & { tag: string };

/** The cache map of `op`, given its inputs' ops and keys (same order as op.inputs) and its key facts. */
export function cacheMap(op: Op, inputs: KeyInput[], facts: KeyFacts = {}, modules: OpModules = OP_MODULES): CacheMap {
  return moduleOf(modules, op, (m, o) => m.cacheMap(o, inputs, facts)) as CacheMap;
}

/** sha256 of the map's canonical JSON. */
export function cacheKey(map: VersionedMap): string {
  return sha256(canonicalJson(map));
}

export function computeCacheKey(op: Op, inputs: KeyInput[], facts: KeyFacts = {}): string {
  return cacheKey(cacheMap(op, inputs, facts));
}
