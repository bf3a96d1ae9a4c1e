/**
 * Explaining cache misses. A cache key says only "equal" or "not equal"; to say *why* a step missed, the
 * solver remembers, per step identity, what the step's key was made of the last time it was built in this
 * store (a "step memo": its cache map and, for COPY from the context, the file list behind the checksum),
 * and asks the op's module (./ops/<kind>/) to explain the difference between that map and the current one.
 *
 * Words:
 * - step identity: who a step is, independent of what it contains: the context it builds from, the
 *   Dockerfile, stage and line of its instruction (or, as a fallback when lines moved, its instruction text).
 *   Two identities are kept per step; the first one found is used.
 * - reason: one sentence for a person, e.g. `file changed: src/a.txt (content)` or `parent step changed`.
 *
 * A memo is untrusted: it may come from another op kind on the same line, an older tsbuild, or a damaged
 * file. Another kind (or a map its module does not accept) is "instruction changed"; another version of the
 * same kind's map is "cache key format changed". Explaining is a diagnostic: the scheduler runs it best-effort.
 */
import { sha256 } from '../src/llb/digest.js';
import type { SelectionFile } from '../src/context/checksum.js';
import type { StepMemo } from '../src/cache/store.js';
import type { Op } from '../src/llb/types.js';
import type { CacheMap } from './cachekey.js';
import { moduleOf, type OpModules, type StoredMap } from './ops/op.js';
import { OP_MODULES } from './ops/registry.js';
import type { Vertex } from './types.js';

export type { StepMemo };
export { fileReason, sameExceptLocalFiles } from './ops/file/index.js';

/** The step identities of a vertex (most specific first); `salt` tells builds of different contexts apart. */
export function stepIdentities(v: Vertex, salt: string): string[] {
  const m = v.metadata;
  const stage = m.stage ?? '';
  const text = m.description.replace(/^\[[^\]]*\]\s*/, '');
  const ids = [sha256(JSON.stringify(['text', salt, stage, v.op.type, text]))];
  if (m.location) ids.unshift(sha256(JSON.stringify(['loc', salt, m.location.file, stage, m.location.line, v.op.type])));
  return ids;
}

/**
 * Why `cur.map` (key `cur.key`) missed, given the step's previous memo (with its file lists loaded).
 * `inputNames` names the inputs (for "parent step changed (NAME)"); `current.op` is the op `cur.map` was
 * made from (when the caller knows it); `current.modules` the op modules (default: the registered ones).
 */
export function explainMiss(
  prev: StepMemo | undefined,
  cur: { key: string; map: CacheMap; files?: Record<number, SelectionFile[]> },
  inputNames: string[],
  current: { op?: Op; modules?: OpModules } = {},
): string[] {
  if (!prev) return ['no earlier build of this step in this store'];
  if (prev.key === cur.key) return ['the cache record of this step was removed (pruned)'];
  const modules = current.modules ?? OP_MODULES;
  const a = prev.map as StoredMap;
  const b = cur.map as StoredMap;
  const kindA = kindOfTag(modules, a.tag);
  const kindB = kindOfTag(modules, b.tag);
  if (kindA === undefined || kindA !== kindB) return ['instruction changed'];
  if (a.tag !== b.tag) return [`cache key format changed (${a.tag} → ${b.tag})`];
  const mod = modules[kindA];
  const pm = mod.readMap(a);
  const cm = mod.readMap(b);
  if (!pm || !cm) return ['instruction changed'];
  const ctx = {
    inputNames,
    ...(prev.files ? { prevFiles: prev.files } : {}),
    ...(cur.files ? { curFiles: cur.files } : {}),
  };
  const op = current.op;
  const reasons =
    op !== undefined && moduleOf(modules, op, (m) => m.kind) === kindA
      ? moduleOf(modules, op, (m, o) => m.explain(pm, cm, { ...ctx, op: o }))
      : mod.explain(pm, cm, ctx);
  return reasons.length ? reasons : ['cache key changed'];
}

/** The op kind whose maps carry `tag` in some version (`tsbuild.exec.v7` → exec), or undefined. */
function kindOfTag(modules: OpModules, tag: unknown): keyof OpModules | undefined {
  if (typeof tag !== 'string') return undefined;
  const family = (t: string) => t.replace(/\.v\d+$/, '');
  return Object.values(modules).find((m) => family(m.tag) === family(tag))?.kind;
}
