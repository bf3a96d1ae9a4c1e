/**
 * The exec op (RUN): its cache map, how two of its maps differ, its key facts (checksums of the context
 * files bind mounts read) and its run (./run.ts).
 * Map history: v1 — argv, env minus proxy variables, cwd, user, network, parent key; `mounts` (RUN --mount
 * declarations, a bind source by its input's key or context checksum) only when there are mounts;
 * `security` (RUN --security=insecure) only when set; `platform` (`os/arch[/variant]`, a step run under
 * emulation for another platform, ExecOp.platform) only when set.
 */
import type { BindMountSpec, CacheMountSpec, CopyAction, ExecMount, ExecOp } from '../../../src/llb/types.js';
import type { KeyFacts } from '../../types.js';
import { checksumLocalCopy, localSourceOf } from '../local/checksum.js';
import type { KeyInput, OpModule, StoredMap } from '../op.js';
import { fieldsOf, inputKey, isObject, isStringArray, parentReason, same } from '../reasons.js';
import { mountSourceError } from './mounts.js';
import { runExec } from './run.js';
import { formatPlatform } from '../../../src/image/platform.js';

export const EXEC_TAG = 'tsbuild.exec.v1';

/** Proxy variables change how a step fetches, not what it produces; Docker leaves them out of the key. */
export const PROXY_ENV = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** Where a bind mount (or a cache mount's seed) reads from: the input's key, or the context files' checksum. */
export type MountSourceMap = { path: string | undefined } & ({ key: string } | { local: string });

/** A mount's declaration; a bind/seeded cache mount's `input` index replaced by what it reads. */
export type ExecMountMap =
  | Exclude<ExecMount, BindMountSpec | CacheMountSpec>
  | CacheMountSpec
  | (Omit<BindMountSpec, 'input' | 'source'> & { source: MountSourceMap })
  | (Omit<CacheMountSpec, 'input' | 'source'> & { source: MountSourceMap });

export type ExecCacheMap = {
  tag: typeof EXEC_TAG;
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  network: ExecOp['network'];
  /** RUN --security=insecure; absent for the sandbox. */
  security?: ExecOp['security'];
  parent: string;
  /** Absent when there are no mounts. */
  mounts?: ExecMountMap[];
  /** A foreign platform's step (`linux/arm64`); absent for the host's. */
  platform?: string;
};

function cacheMap(op: ExecOp, inputs: KeyInput[], facts: KeyFacts): ExecCacheMap {
  return {
    tag: EXEC_TAG,
    args: op.args,
    env: op.env.filter((kv) => !PROXY_ENV.has(kv.split('=', 1)[0]!)),
    cwd: op.cwd,
    user: op.user,
    network: op.network,
    ...(op.security ? { security: op.security } : {}),
    parent: inputKey(inputs, 0),
    ...(op.mounts?.length ? { mounts: op.mounts.map((m, i) => mountMap(m, i, inputs, facts)) } : {}),
    ...(op.platform ? { platform: formatPlatform(op.platform) } : {}),
  };
}

function mountMap(m: ExecMount, index: number, inputs: KeyInput[], facts: KeyFacts): ExecMountMap {
  if (m.type !== 'bind' && !(m.type === 'cache' && m.input !== undefined)) return m;
  const { input: i, ...rest } = m as BindMountSpec;
  const path = (m as { source?: string }).source;
  const local = facts.mountChecksums?.[index];
  if (local) return { ...rest, source: { path, local } };
  return { ...rest, source: { path, key: inputKey(inputs, i) } };
}

function readMap(s: StoredMap): ExecCacheMap | undefined {
  const ok =
    s.tag === EXEC_TAG &&
    isStringArray(s.args) &&
    isStringArray(s.env) &&
    typeof s.cwd === 'string' &&
    typeof s.user === 'string' &&
    typeof s.network === 'string' &&
    (s.security === undefined || typeof s.security === 'string') &&
    typeof s.parent === 'string' &&
    (s.mounts === undefined || (Array.isArray(s.mounts) && s.mounts.every(isObject))) &&
    (s.platform === undefined || typeof s.platform === 'string');
  return ok ? (s as unknown as ExecCacheMap) : undefined;
}

function explain(a: ExecCacheMap, b: ExecCacheMap, ctx: { inputNames: string[] }): string[] {
  const out: string[] = [];
  for (const field of fieldsOf(a, b) as (keyof ExecCacheMap)[]) {
    if (field === 'tag' || field === 'parent' || same(a[field], b[field])) continue;
    if (field === 'env') out.push(...envReasons(a.env, b.env));
    else if (field === 'args') out.push('command changed');
    else if (field === 'cwd') out.push(`WORKDIR changed: ${a.cwd} → ${b.cwd}`);
    else if (field === 'user') out.push(`USER changed: "${a.user}" → "${b.user}"`);
    else if (field === 'platform') out.push(`platform changed: ${a.platform ?? 'host'} → ${b.platform ?? 'host'}`);
    else out.push(`${field} changed`);
  }
  return [...out, ...parentReason(a.parent, b.parent, ctx.inputNames)];
}

/** Names only: a build arg's value may be something its author would rather not see printed. */
function envReasons(x: string[], y: string[]): string[] {
  const toMap = (v: string[]) => new Map(v.map((kv) => [kv.split('=', 1)[0]!, kv]));
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

export const execOp: OpModule<'exec', ExecCacheMap> = {
  kind: 'exec',
  tag: EXEC_TAG,
  output: 'layer',
  trivial: false,
  cacheMap,
  readMap,
  explain,
  async keyFacts(op, { vertex }, { deps }) {
    if (!op.mounts?.length) return {};
    const mountChecksums: Record<number, string> = {};
    for (const [i, m] of op.mounts.entries()) {
      const input = m.type === 'bind' || m.type === 'cache' ? m.input : undefined;
      if (input === undefined) continue;
      const local = localSourceOf(vertex.inputs[input]?.op ?? op);
      if (!local) continue;
      const action: CopyAction = { action: 'copy', sourceInput: input, src: [(m as { source?: string }).source ?? '.'], dest: '/', allowWildcard: false, followSymlinks: true }; // as the mount: resolved inside the context
      mountChecksums[i] = await checksumLocalCopy(action, local, {
        locals: deps.locals,
        ...(deps.statCache ? { statCache: deps.statCache } : {}),
        ...(deps.witness ? { witness: deps.witness } : {}),
      }).catch((err) => {
        throw mountSourceError(action.src[0]!, err);
      });
    }
    return { mountChecksums };
  },
  run: (_op, ctx, { deps }) => runExec(ctx, deps),
};
