/**
 * RUN --mount=type=bind|cache|tmpfs|secret|ssh,... → ExecMount specs (BuildKit's syntax and defaults).
 * Values are CSV fields `key=value` (bare `readonly`/`ro`/`rw`/`required` mean true); each value is
 * expanded with the step's environment. A relative target is relative to the working directory.
 */
import type { ExecMount } from '../../src/llb/types.js';
import type { RunInstruction } from '../parse/instructions.js';
import { fail, type Converter, type StageState } from './context.js';
import type { NodeId } from './graph.js';
import { insideRoot, joinPath } from './paths.js';

const KEYS: Record<string, string> = {
  type: 'type',
  target: 'target', dst: 'target', destination: 'target',
  source: 'source', src: 'source',
  from: 'from', id: 'id', sharing: 'sharing', mode: 'mode', uid: 'uid', gid: 'gid', size: 'size', env: 'env',
  readonly: 'readonly', ro: 'readonly', rw: 'rw', readwrite: 'rw', required: 'required',
};
const BOOLS = new Set(['readonly', 'rw', 'required']);
const TYPES = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);

/** Split a CSV field list (double quotes group, as Go's encoding/csv). */
export function csvFields(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      if (quoted && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export interface MountResult {
  mounts: ExecMount[];
  /** Extra op inputs (after the rootfs), referenced by `input` indexes starting at 1. */
  inputs: NodeId[];
}

export async function runMounts(
  c: Converter,
  s: StageState,
  inst: RunInstruction,
  expand: (word: string) => string,
  cwd: string,
): Promise<MountResult> {
  const loc = inst.loc;
  const out: MountResult = { mounts: [], inputs: [] };
  const bad = (msg: string): never => fail(loc, 'INVALID_MOUNT', `RUN --mount: ${msg}`);
  /** The path inside the mount's source filesystem, relative ("." = its root). */
  const sourcePath = (from: string | undefined, source: string | undefined): string => {
    // As BuildKit: `..` stops at the root of the context, stage or image (the solver resolves symlinks there too).
    return insideRoot(source ?? (from !== undefined ? '/' : '.'));
  };
  const inputOf = async (from: string | undefined, source: string): Promise<number> => {
    let node: NodeId;
    if (from === undefined) node = c.context([source]);
    else {
      const def = c.findStage(from);
      let named: ReturnType<Converter['namedContext']>;
      if (def) {
        if (def.index === s.def.index) fail(loc, 'CIRCULAR_DEPENDENCY', `RUN --mount from=${from} refers to its own stage`);
        node = (await c.stage(def.index, loc)).node;
      } else if (/^\d+$/.test(from)) {
        return fail(loc, 'STAGE_NOT_FOUND', `RUN --mount from=${from}: there is no stage with index ${from}`);
      } else if ((named = c.namedContext(from)) !== undefined) {
        node = named.context.kind === 'local' ? c.context([source], { name: named.name, ...named.context }) : (await c.image(named.context.ref, loc, s.def.name ?? String(s.def.index))).node;
      } else {
        node = (await c.image(from, loc, s.def.name ?? String(s.def.index))).node;
      }
    }
    const i = out.inputs.indexOf(node);
    if (i >= 0) return i + 1;
    out.inputs.push(node);
    return out.inputs.length;
  };

  for (const [n, raw] of (inst.mounts ?? []).entries()) {
    const f: Record<string, string> = {};
    for (const field of csvFields(raw)) {
      if (field.trim() === '') continue;
      const eq = field.indexOf('=');
      const rawKey = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
      const key = KEYS[rawKey] ?? bad(`unexpected key ${JSON.stringify(rawKey)} in ${JSON.stringify(raw)}`);
      if (eq < 0) {
        if (!BOOLS.has(key)) bad(`${rawKey} needs a value, as in ${rawKey}=VALUE`);
        f[key] = 'true';
      } else f[key] = expand(field.slice(eq + 1));
    }
    const type = (f.type ?? 'bind').toLowerCase();
    if (!TYPES.has(type)) bad(`unsupported mount type ${JSON.stringify(type)} (bind, cache, tmpfs, secret or ssh)`);
    const bool = (k: string, dflt: boolean): boolean => {
      const v = f[k];
      if (v === undefined) return dflt;
      if (/^(true|1)$/i.test(v)) return true;
      if (/^(false|0)$/i.test(v)) return false;
      return bad(`invalid boolean ${JSON.stringify(v)} for ${k}`);
    };
    const num = (k: string, dflt: number, base = 10): number => {
      const v = f[k];
      if (v === undefined) return dflt;
      const ok = base === 8 ? /^[0-7]{1,4}$/.test(v) : /^\d+$/.test(v);
      if (!ok) bad(`invalid ${k} ${JSON.stringify(v)}`);
      return parseInt(v, base);
    };
    const target = f.target !== undefined && f.target !== '' ? (f.target.startsWith('/') ? joinPath('/', f.target) : joinPath('/', cwd, f.target)) : undefined;
    const readonly = f.rw !== undefined ? !bool('rw', false) : undefined;
    const ro = bool('readonly', readonly ?? false);
    switch (type) {
      case 'bind': {
        if (!target) bad('type=bind needs a target');
        const source = sourcePath(f.from, f.source);
        const input = await inputOf(f.from, source);
        out.mounts.push({ type: 'bind', target: target!, input, source, readonly: f.readonly !== undefined ? ro : (readonly ?? true) });
        break;
      }
      case 'cache': {
        if (!target) bad('type=cache needs a target');
        const sharing = (f.sharing ?? 'shared').toLowerCase();
        if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') bad(`invalid sharing ${JSON.stringify(sharing)} (shared, private or locked)`);
        const m: ExecMount = {
          type: 'cache',
          target: target!,
          id: f.id || target!,
          sharing: sharing as 'shared',
          readonly: ro,
          mode: num('mode', 0o755, 8),
          uid: num('uid', 0),
          gid: num('gid', 0),
        };
        if (f.from !== undefined) {
          const source = sourcePath(f.from, f.source);
          m.input = await inputOf(f.from, source);
          m.source = source;
        }
        out.mounts.push(m);
        break;
      }
      case 'tmpfs': {
        if (!target) bad('type=tmpfs needs a target');
        const m: ExecMount = { type: 'tmpfs', target: target! };
        if (f.size !== undefined) m.size = parseSize(f.size) ?? bad(`invalid size ${JSON.stringify(f.size)}`);
        out.mounts.push(m);
        break;
      }
      case 'secret': {
        const id = f.id || (target ? target.slice(target.lastIndexOf('/') + 1) : '') || bad('type=secret needs an id or a target');
        const m: ExecMount = { type: 'secret', id, required: bool('required', false), mode: num('mode', 0o400, 8), uid: num('uid', 0), gid: num('gid', 0) };
        if (f.env !== undefined) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.env)) bad(`invalid env name ${JSON.stringify(f.env)}`);
          m.env = f.env;
        }
        if (target || m.env === undefined) m.target = target ?? `/run/secrets/${id}`;
        out.mounts.push(m);
        break;
      }
      case 'ssh': {
        out.mounts.push({
          type: 'ssh',
          id: f.id || 'default',
          target: target ?? `/run/buildkit/ssh_agent.${n}`,
          required: bool('required', false),
          mode: num('mode', 0o600, 8),
          uid: num('uid', 0),
          gid: num('gid', 0),
        });
        break;
      }
    }
  }
  const targets = out.mounts.map((m) => ('target' in m ? m.target : undefined)).filter((t): t is string => t !== undefined);
  const dup = targets.find((t, i) => targets.indexOf(t) !== i);
  if (dup) bad(`two mounts have the same target ${dup}`);
  return out;
}

/** "64m", "1g", "1024", "512k" → bytes (Docker's RAMInBytes units, powers of 1024). */
export function parseSize(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as ''];
  return Math.floor(Number(m[1]) * mult);
}
