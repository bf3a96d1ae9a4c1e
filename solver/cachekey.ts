/**
 * Cache keys: what an op's result depends on, and nothing else.
 * Each op type has a cache map with a versioned tag; the key is sha256 of its canonical JSON.
 * Bump a tag's version whenever what the op produces for the same map changes, or what the map means.
 * History: file v2 — local copy sources enter the map by base name only (v1 had the full paths).
 */
import { TsbuildError } from '../src/errors.js';
import { canonicalJson, sha256 } from '../src/llb/digest.js';
import type { ExecMount, FileAction, Op } from '../src/llb/types.js';
import type { KeyFacts } from './types.js';

export const TAGS = {
  exec: 'tsbuild.exec.v1',
  file: 'tsbuild.file.v2',
  image: 'tsbuild.source.image.v1',
  local: 'tsbuild.source.local.v1',
  scratch: 'tsbuild.source.scratch.v1',
  http: 'tsbuild.source.http.v1',
} as const;

/** Proxy variables change how a step fetches, not what it produces; Docker leaves them out of the key. */
export const PROXY_ENV = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

export interface KeyInput {
  op: Op;
  key: string;
}

export type CacheMap = Record<string, unknown> & { tag: string };

/** The cache map of `op`, given its inputs' ops and keys (same order as op.inputs) and its key facts. */
export function cacheMap(op: Op, inputs: KeyInput[], facts: KeyFacts = {}): CacheMap {
  switch (op.type) {
    case 'source': {
      const s = op.source;
      if (s.kind === 'scratch') return { tag: TAGS.scratch };
      if (s.kind === 'local') {
        return { tag: TAGS.local, name: s.name, excludePatterns: s.excludePatterns, includePaths: s.includePaths };
      }
      if (s.kind === 'http') {
        if (!facts.httpDigest) throw missing(`content digest of ${s.url}`);
        return { tag: TAGS.http, digest: facts.httpDigest, filename: s.filename };
      }
      if (!facts.imageDigest) throw missing(`manifest digest of image ${s.ref}`);
      return { tag: TAGS.image, digest: facts.imageDigest };
    }
    case 'exec':
      return {
        tag: TAGS.exec,
        args: op.args,
        env: op.env.filter((kv) => !PROXY_ENV.has(kv.split('=', 1)[0]!)),
        cwd: op.cwd,
        user: op.user,
        network: op.network,
        ...(op.security ? { security: op.security } : {}),
        parent: inputKey(inputs, 0),
        // RUN --mount: the declarations count; a bind mount's source by its input's key (or the context
        // checksum); cache/tmpfs/secret/ssh content never does. Absent when there are no mounts.
        ...(op.mounts?.length ? { mounts: op.mounts.map((m, i) => execMountMap(m, i, inputs, facts)) } : {}),
      };
    case 'file':
      return {
        tag: TAGS.file,
        parent: inputKey(inputs, 0),
        actions: op.actions.map((a, i) => fileActionMap(a, i, inputs, facts)),
      };
  }
}

function fileActionMap(a: FileAction, index: number, inputs: KeyInput[], facts: KeyFacts): unknown {
  if (a.action !== 'copy') return a;
  const { sourceInput, ...rest } = a;
  const input = inputs[sourceInput];
  if (!input) throw missing(`input ${sourceInput} of copy action ${index}`);
  if (input.op.type === 'source' && input.op.source.kind === 'local') {
    const checksum = facts.localChecksums?.[index];
    if (!checksum) throw missing(`checksum of the local files selected by copy action ${index}`);
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

function execMountMap(m: ExecMount, index: number, inputs: KeyInput[], facts: KeyFacts): unknown {
  if (m.type !== 'bind' && !(m.type === 'cache' && m.input !== undefined)) return m;
  const { input: i, ...rest } = m as { input: number };
  const local = facts.mountChecksums?.[index];
  if (local) return { ...rest, source: { path: (m as { source?: string }).source, local } };
  return { ...rest, source: { path: (m as { source?: string }).source, key: inputKey(inputs, i) } };
}

function inputKey(inputs: KeyInput[], i: number): string {
  const input = inputs[i];
  if (!input) throw missing(`key of input ${i}`);
  return input.key;
}

function missing(what: string): TsbuildError {
  return new TsbuildError('INTERNAL', `cache key: missing ${what}`);
}

/** sha256 of the map's canonical JSON. */
export function cacheKey(map: CacheMap): string {
  return sha256(canonicalJson(map));
}

export function computeCacheKey(op: Op, inputs: KeyInput[], facts: KeyFacts = {}): string {
  return cacheKey(cacheMap(op, inputs, facts));
}
