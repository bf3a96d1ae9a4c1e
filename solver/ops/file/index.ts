/**
 * The file op (COPY, ADD from the context or a stage, WORKDIR's mkdir, heredoc files): its cache map, how
 * two of its maps differ (which copied file changed and how), its key facts (checksums of the context files
 * each copy selects) and its run (./run.ts, incremental copies in ./copy-reuse.ts).
 * Map history: v2 — local copy sources enter the map by base name only (v1 had the full paths).
 */
import type { SelectionFile } from '../../../src/context/checksum.js';
import type { SourceSelection } from '../../../src/context/select.js';
import type { CopyAction, FileAction, FileOp, MkdirAction, MkfileAction } from '../../../src/llb/types.js';
import type { KeyFacts } from '../../types.js';
import { checksumLocalCopyDetailed, localSourceOf } from '../local/checksum.js';
import type { ExplainContext, KeyInput, OpModule, StoredMap } from '../op.js';
import { fieldsOf, inputKey, isObject, missingFact, parentReason, same } from '../reasons.js';
import { runFile } from './run.js';

export const FILE_TAG = 'tsbuild.file.v2';

/** Up to this many changed paths are named in one reason. */
const MAX_PATHS = 5;

/** What a copy reads: the context files' checksum, or the source input's key. */
export type CopySourceMap = { local: string } | { key: string };
export type CopyActionMap = Omit<CopyAction, 'sourceInput'> & { source: CopySourceMap };
export type FileActionMap = CopyActionMap | MkdirAction | MkfileAction;

export type FileCacheMap = {
  tag: typeof FILE_TAG;
  parent: string;
  actions: FileActionMap[];
};

function cacheMap(op: FileOp, inputs: KeyInput[], facts: KeyFacts): FileCacheMap {
  return { tag: FILE_TAG, parent: inputKey(inputs, 0), actions: op.actions.map((a, i) => actionMap(a, i, inputs, facts)) };
}

function actionMap(a: FileAction, index: number, inputs: KeyInput[], facts: KeyFacts): FileActionMap {
  if (a.action !== 'copy') return a;
  const { sourceInput, ...rest } = a;
  const input = inputs[sourceInput];
  if (!input) throw missingFact(`input ${sourceInput} of copy action ${index}`);
  if (input.op.type === 'source' && input.op.source.kind === 'local') {
    const checksum = facts.localChecksums?.[index];
    if (!checksum) throw missingFact(`checksum of the local files selected by copy action ${index}`);
    // As BuildKit does: only the base names of local sources enter the key; the content checksum covers
    // the full selection. So the same files copied from another directory give the same key.
    // --parents keeps each source's path in the result, so there the full paths count.
    return { ...rest, src: rest.parents ? rest.src : rest.src.map(baseName), source: { local: checksum } };
  }
  return { ...rest, source: { key: input.key } };
}

/** posix base name, ignoring trailing slashes ("src/" → "src", "/" → "/"). */
function baseName(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  if (trimmed === '') return p === '' ? '' : '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

function readMap(s: StoredMap): FileCacheMap | undefined {
  const ok = s.tag === FILE_TAG && typeof s.parent === 'string' && Array.isArray(s.actions) && s.actions.every(isActionMap);
  return ok ? (s as unknown as FileCacheMap) : undefined;
}

function isActionMap(a: unknown): boolean {
  if (!isObject(a)) return false;
  if (a.action === 'mkdir' || a.action === 'mkfile') return true;
  return a.action === 'copy' && isObject(a.source) && (typeof a.source.local === 'string' || typeof a.source.key === 'string');
}

function explain(a: FileCacheMap, b: FileCacheMap, ctx: ExplainContext<'file'>): string[] {
  return [...actionReasons(a.actions, b.actions, ctx), ...parentReason(a.parent, b.parent, ctx.inputNames)];
}

function actionReasons(a: FileActionMap[], b: FileActionMap[], ctx: ExplainContext<'file'>): string[] {
  // Another number or kind of actions (COPY where there was a WORKDIR): another instruction.
  if (a.length !== b.length || a.some((x, i) => x.action !== b[i]!.action)) return ['instruction changed'];
  const out: string[] = [];
  b.forEach((act, i) => {
    const old = a[i]! as Record<string, unknown>;
    const cur = act as Record<string, unknown>;
    for (const field of fieldsOf(old, cur)) {
      if (same(old[field], cur[field])) continue;
      if (field === 'source' && act.action === 'copy') {
        if ('local' in act.source && 'local' in (old.source as CopySourceMap)) out.push(fileReason(ctx.prevFiles?.[i], ctx.curFiles?.[i]));
        else {
          const from = ctx.inputNames[sourceInputOf(ctx, i, cur) ?? -1];
          out.push(`source changed${from ? ` (${from})` : ''}`);
        }
      } else if (field === 'src') out.push('source paths changed');
      else if (field === 'dest' || field === 'path') out.push('destination changed');
      else out.push(`--${field} changed`);
    }
  });
  return out;
}

/** The input a copy action reads, from the current op (a stored map has no input indexes). */
function sourceInputOf(ctx: ExplainContext<'file'>, i: number, map: Record<string, unknown>): number | undefined {
  const action = ctx.op?.actions[i];
  if (action?.action === 'copy') return action.sourceInput;
  return typeof map.sourceInput === 'number' ? map.sourceInput : undefined;
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
export function sameExceptLocalFiles(prev: StoredMap, cur: StoredMap): boolean {
  const a = readMap(prev);
  const b = readMap(cur);
  if (!a || !b) return false;
  const strip = (m: FileCacheMap): string =>
    JSON.stringify({ ...m, actions: m.actions.map((x) => (x.action === 'copy' && 'local' in x.source ? { ...x, source: { local: '' } } : x)) });
  return strip(a) === strip(b);
}

export const fileOp: OpModule<'file', FileCacheMap> = {
  kind: 'file',
  tag: FILE_TAG,
  output: 'layer',
  trivial: false,
  cacheMap,
  readMap,
  explain,
  async keyFacts(op, { vertex }, { deps }) {
    const localChecksums: Record<number, string> = {};
    const localFiles: Record<number, SelectionFile[]> = {};
    const localSelections: Record<number, SourceSelection[]> = {};
    for (const [i, action] of op.actions.entries()) {
      if (action.action !== 'copy') continue;
      const local = localSourceOf(vertex.inputs[action.sourceInput]?.op ?? op);
      if (!local) continue;
      const sum = await checksumLocalCopyDetailed(action, local, {
        locals: deps.locals,
        ...(deps.statCache ? { statCache: deps.statCache } : {}),
        ...(deps.witness ? { witness: deps.witness } : {}),
      });
      localChecksums[i] = sum.digest;
      localSelections[i] = sum.selection;
      if (sum.files) localFiles[i] = sum.files;
    }
    return { localChecksums, localFiles, localSelections };
  },
  run: (_op, ctx, { deps }) => runFile(ctx, deps),
};
