/**
 * Explaining cache misses. A cache key says only "equal" or "not equal"; to say *why* a step missed, the
 * solver remembers, per step identity, what the step's key was made of the last time it was built in this
 * store (a "step memo": its cache map and, for COPY from the context, the file list behind the checksum),
 * and diffs the current map against it.
 *
 * Words:
 * - step identity: who a step is, independent of what it contains: the context it builds from, the
 *   Dockerfile, stage and line of its instruction (or, as a fallback when lines moved, its instruction text).
 *   Two identities are kept per step; the first one found is used.
 * - reason: one sentence for a person, e.g. `file changed: src/a.txt (content)` or `parent step changed`.
 */
import { sha256 } from '../src/llb/digest.js';
import type { SelectionFile } from '../src/context/checksum.js';
import type { StepMemo } from '../src/cache/store.js';
import type { CacheMap } from './cachekey.js';
import type { Vertex } from './types.js';

export type { StepMemo };

/** Up to this many changed paths are named in one reason. */
const MAX_PATHS = 5;

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
 * Why `map` (key `key`) missed, given the step's previous memo (with its file lists loaded). `parentName`
 * names the parent vertex for "parent step changed".
 */
export function explainMiss(
  prev: StepMemo | undefined,
  cur: { key: string; map: CacheMap; files?: Record<number, SelectionFile[]> },
  inputNames: string[],
): string[] {
  if (!prev) return ['no earlier build of this step in this store'];
  if (prev.key === cur.key) return ['the cache record of this step was removed (pruned)'];
  if (prev.map.tag !== cur.map.tag) return [`cache key format changed (${prev.map.tag} → ${cur.map.tag})`];
  const out: string[] = [];
  const a = prev.map as Record<string, unknown>;
  const b = cur.map as Record<string, unknown>;
  for (const field of fieldsOf(a, b)) {
    if (field === 'tag' || field === 'parent' || same(a[field], b[field])) continue;
    if (field === 'env') out.push(...envReasons(a.env, b.env));
    else if (field === 'actions') out.push(...actionReasons(a.actions, b.actions, prev.files, cur.files, inputNames));
    else if (field === 'args') out.push('command changed');
    else if (field === 'cwd') out.push(`WORKDIR changed: ${String(a.cwd)} → ${String(b.cwd)}`);
    else if (field === 'user') out.push(`USER changed: "${String(a.user)}" → "${String(b.user)}"`);
    else if (field === 'digest') out.push(`base image changed: ${short(a.digest)} → ${short(b.digest)}`);
    else out.push(`${field} changed`);
  }
  if (!same(a.parent, b.parent)) out.push(`parent step changed${inputNames[0] ? ` (${inputNames[0]})` : ''}`);
  if (out.length === 0) out.push('cache key changed');
  return out;
}

function fieldsOf(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

function short(d: unknown): string {
  return typeof d === 'string' ? d.replace(/^sha256:/, '').slice(0, 12) : String(d);
}

/** Names only: a build arg's value may be something its author would rather not see printed. */
function envReasons(x: unknown, y: unknown): string[] {
  const toMap = (v: unknown) => new Map((Array.isArray(v) ? (v as string[]) : []).map((kv) => [kv.split('=', 1)[0]!, kv]));
  const a = toMap(x);
  const b = toMap(y);
  const changed: string[] = [];
  for (const [k, v] of b) {
    if (!a.has(k)) changed.push(`${k} (added)`);
    else if (a.get(k) !== v) changed.push(`${k} (value)`);
  }
  for (const k of a.keys()) if (!b.has(k)) changed.push(`${k} (removed)`);
  if (changed.length === 0) return ['build arg/env order changed'];
  return [`build arg/env changed: ${changed.join(', ')}`];
}

function actionReasons(
  x: unknown,
  y: unknown,
  prevFiles: Record<number, SelectionFile[]> | undefined,
  curFiles: Record<number, SelectionFile[]> | undefined,
  inputNames: string[],
): string[] {
  const a = Array.isArray(x) ? (x as Record<string, unknown>[]) : [];
  const b = Array.isArray(y) ? (y as Record<string, unknown>[]) : [];
  if (a.length !== b.length) return ['instruction changed'];
  const out: string[] = [];
  b.forEach((act, i) => {
    const old = a[i]!;
    for (const field of fieldsOf(old, act)) {
      if (same(old[field], act[field])) continue;
      if (field === 'source') {
        const src = act.source as { local?: string; key?: string };
        if (src.local !== undefined) out.push(fileReason(prevFiles?.[i], curFiles?.[i]));
        else {
          const from = inputNames[(act.sourceInput as number | undefined) ?? -1];
          out.push(`source changed${from ? ` (${from})` : ''}`);
        }
      } else if (field === 'src') out.push('source paths changed');
      else if (field === 'dest' || field === 'path') out.push('destination changed');
      else out.push(`--${field} changed`);
    }
  });
  return out;
}

/** `file changed: a (content), b (mode 644 → 755), c (added), d (removed)`, first few paths. */
export function fileReason(prev: SelectionFile[] | undefined, cur: SelectionFile[] | undefined): string {
  if (!prev || !cur) return 'copied files changed';
  const before = new Map(prev.map((f) => [f[0], f]));
  const after = new Map(cur.map((f) => [f[0], f]));
  const changes: string[] = [];
  for (const [path, f] of after) {
    const o = before.get(path);
    if (!o) changes.push(`${path} (added)`);
    else if (o[1] !== f[1]) changes.push(`${path} (type)`);
    else if (o[3] !== f[3]) changes.push(`${path} (${f[1] === 'l' ? 'link target' : 'content'})`);
    else if (o[2] !== f[2]) changes.push(`${path} (mode ${o[2].toString(8)} → ${f[2].toString(8)})`);
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push(`${path} (removed)`);
  if (changes.length === 0) return 'copied files changed (same paths and contents: selection order changed)';
  const more = changes.length > MAX_PATHS ? `, and ${changes.length - MAX_PATHS} more` : '';
  return `${changes.length === 1 ? 'file changed' : `${changes.length} files changed`}: ${changes.slice(0, MAX_PATHS).join(', ')}${more}`;
}

/**
 * Is `cur` the same step as `prev` apart from the content of the local files its copies select? (Same tag,
 * parent, flags, sources and destinations: only `source.local` checksums may differ.) An incremental COPY
 * may then start from prev's result.
 */
export function sameExceptLocalFiles(prev: CacheMap, cur: CacheMap): boolean {
  if (prev.tag !== cur.tag || !Array.isArray(cur.actions) || !Array.isArray(prev.actions)) return false;
  const strip = (m: CacheMap): string =>
    JSON.stringify({
      ...m,
      actions: (m.actions as Record<string, unknown>[]).map((a) => {
        const src = a.source as { local?: unknown } | undefined;
        return src && src.local !== undefined ? { ...a, source: { local: '' } } : a;
      }),
    });
  return strip(prev) === strip(cur);
}
