/**
 * `tsbuild build --call outline|targets` (buildx's subrequests): what a Dockerfile asks of its caller, read
 * from the parsed instructions only (nothing is resolved or built), printed as buildx prints it.
 * - targets: every named stage (and the default one) with its description;
 * - outline: for the target, the build args the stages it reaches declare (plus the global ARGs used in a
 *   FROM or declared again in one of them, at the global's place), the secrets and ssh ids its RUN mounts name.
 * A description is the first line of the comment block right above the FROM/ARG when that line starts with
 * the stage or arg name (Go doc style), without the name: `# base is the common base` → "is the common base".
 * Differences from BuildKit v0.13: secrets and ssh ids are listed in Dockerfile order (BuildKit's order
 * comes from a Go map and changes from run to run); `--mount from=`/`--from` are matched without expanding
 * ARGs in them.
 */
import { NotFoundError } from '../src/errors.js';
import { parseDockerfile } from './parse/index.js';
import type { FromInstruction, Instruction } from './parse/instructions.js';
import { csvFields } from './convert/run-mount.js';
import { ShellLex } from './shell/lex.js';

export interface OutlineArg { name: string; value?: string; description?: string; line: number }
export interface Outline {
  /** The target stage's name ("" for an unnamed default stage) and description. */
  name: string;
  description?: string;
  args: OutlineArg[];
  secrets: { name: string; required: boolean }[];
  ssh: { name: string; required: boolean }[];
}
export interface Target { name: string; description?: string; default: boolean; base: string; line: number }

interface Stage { index: number; name?: string; from: FromInstruction; body: Instruction[] }

function stagesOf(text: string, file: string): { globals: Instruction[]; stages: Stage[]; lines: string[]; lex: ShellLex } {
  const { instructions, escapeToken } = parseDockerfile(text, file);
  const globals: Instruction[] = [];
  const stages: Stage[] = [];
  for (const inst of instructions) {
    if (inst.keyword === 'FROM') stages.push({ index: stages.length, ...(inst.stageName !== undefined ? { name: inst.stageName } : {}), from: inst, body: [] });
    else if (stages.length === 0) globals.push(inst);
    else stages[stages.length - 1]!.body.push(inst);
  }
  return { globals, stages, lines: text.replace(/^\uFEFF/, '').split(/\r?\n/), lex: new ShellLex({ escapeToken }) };
}

/** The description of NAME from the comment block right above 1-based `line`, if its first line starts with NAME. */
function describe(lines: string[], line: number, name: string): string | undefined {
  let i = line - 2;
  const block: string[] = [];
  while (i >= 0 && /^\s*#/.test(lines[i]!)) block.unshift(lines[i--]!.replace(/^\s*#\s?/, ''));
  const first = block[0];
  if (first === undefined) return undefined;
  const words = first.trim().split(/\s+/);
  if (words[0] !== name || words.length < 2) return undefined;
  return first.trim().slice(name.length).trim();
}

export function dockerfileTargets(text: string, file: string): Target[] {
  const { stages, lines } = stagesOf(text, file);
  const last = stages.length - 1;
  return stages
    .filter((s) => s.name !== undefined || s.index === last)
    .map((s) => {
      const t: Target = { name: s.name ?? '', default: s.index === last, base: s.from.image, line: s.from.loc.startLine };
      const d = s.name !== undefined ? describe(lines, s.from.loc.startLine, s.name) : undefined;
      if (d !== undefined) t.description = d;
      return t;
    });
}

export function dockerfileOutline(text: string, file: string, target?: string): Outline {
  const { globals, stages, lines, lex } = stagesOf(text, file);
  const known = new Map<string, string>();
  /** A default value as the build would see it: quotes removed, earlier args expanded. */
  const valueOf = (v: string | undefined): { value?: string } => {
    if (v === undefined) return {};
    try {
      return { value: lex.processWord(v, (k) => known.get(k)) };
    } catch {
      return { value: v };
    }
  };
  let t = stages[stages.length - 1]!;
  if (target !== undefined && target !== '') {
    const found = stages.find((s) => s.name === target.toLowerCase());
    if (!found) throw new NotFoundError('TARGET_NOT_FOUND', `target stage ${JSON.stringify(target)} could not be found`);
    t = found;
  }
  const byRef = (ref: string, before: number): Stage | undefined =>
    stages.find((s) => s.index < before && (s.name === ref.toLowerCase() || String(s.index) === ref));
  // The stages the target reaches: FROM <stage>, COPY --from=<stage>, RUN --mount from=<stage>.
  const reached = new Set<number>();
  const visit = (s: Stage): void => {
    if (reached.has(s.index)) return;
    reached.add(s.index);
    const refs = [s.from.image];
    for (const inst of s.body) {
      if ((inst.keyword === 'COPY' || inst.keyword === 'ADD') && inst.from !== undefined) refs.push(inst.from);
      if (inst.keyword === 'RUN') for (const m of inst.mounts ?? []) for (const f of csvFields(m)) if (/^from=/i.test(f.trim())) refs.push(f.trim().slice(5));
    }
    for (const r of refs) {
      const dep = byRef(r, s.index);
      if (dep) visit(dep);
    }
  };
  visit(t);
  const order = stages.filter((s) => reached.has(s.index));
  const globalArgs = new Map<string, OutlineArg>();
  for (const inst of globals) {
    if (inst.keyword !== 'ARG') continue;
    for (const a of inst.args) {
      const arg: OutlineArg = { name: a.key, line: inst.loc.startLine, ...valueOf(a.value) };
      if (arg.value !== undefined) known.set(a.key, arg.value);
      const d = describe(lines, inst.loc.startLine, a.key);
      if (d !== undefined) arg.description = d;
      globalArgs.set(a.key, arg);
    }
  }
  const usedGlobals = new Set<string>();
  const stageArgs: OutlineArg[] = [];
  const secrets = new Map<string, boolean>();
  const ssh = new Map<string, boolean>();
  for (const s of order) {
    for (const g of globalArgs.keys()) if (new RegExp(`\\$\\{?${g}\\b`).test(s.from.image + ' ' + (s.from.platform ?? ''))) usedGlobals.add(g);
    for (const inst of s.body) {
      if (inst.keyword === 'ARG') {
        for (const a of inst.args) {
          if (globalArgs.has(a.key) && a.value === undefined) usedGlobals.add(a.key);
          else if (!stageArgs.some((x) => x.name === a.key)) {
            const arg: OutlineArg = { name: a.key, line: inst.loc.startLine, ...valueOf(a.value) };
            const d = describe(lines, inst.loc.startLine, a.key);
            if (d !== undefined) arg.description = d;
            stageArgs.push(arg);
          }
        }
      }
      if (inst.keyword !== 'RUN') continue;
      for (const m of inst.mounts ?? []) {
        const f: Record<string, string> = {};
        for (const field of csvFields(m)) {
          const eq = field.indexOf('=');
          f[(eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase()] = eq < 0 ? 'true' : field.slice(eq + 1);
        }
        const required = /^(true|1)$/i.test(f.required ?? 'false');
        if (f.type === 'secret') {
          const target = f.target ?? f.dst ?? f.destination;
          const id = f.id || (target ? target.slice(target.lastIndexOf('/') + 1) : '');
          if (id) secrets.set(id, (secrets.get(id) ?? false) || required);
        } else if (f.type === 'ssh') {
          const id = f.id || 'default';
          ssh.set(id, (ssh.get(id) ?? false) || required);
        }
      }
    }
  }
  const out: Outline = {
    name: t.name ?? '',
    args: [...[...globalArgs.values()].filter((a) => usedGlobals.has(a.name)), ...stageArgs],
    secrets: [...secrets].map(([name, required]) => ({ name, required })),
    ssh: [...ssh].map(([name, required]) => ({ name, required })),
  };
  const d = t.name !== undefined ? describe(lines, t.from.loc.startLine, t.name) : undefined;
  if (d !== undefined) out.description = d;
  return out;
}

/** Go's text/tabwriter with minwidth 0 and the given padding, cells separated by \t (the last cell is not padded). */
function table(rows: string[][], padding: number): string {
  const widths: number[] = [];
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c + ' '.repeat(widths[i]! - [...c].length + padding) : c)).join('') + '\n').join('');
}

/** As buildx prints `--call targets`. */
export function formatTargets(targets: Target[]): string {
  return table([['TARGET', 'DESCRIPTION'], ...targets.map((t) => [t.default ? (t.name ? `${t.name} (default)` : '(default)') : t.name, t.description ?? ''])], 1);
}

/** As buildx prints `--call outline`. */
export function formatOutline(o: Outline): string {
  let s = '';
  if (o.name !== '') {
    s += table([['TARGET:', o.name], ...(o.description !== undefined ? [['DESCRIPTION:', o.description]] : [])], 1) + '\n';
  }
  if (o.args.length) s += table([['BUILD ARG', 'VALUE', 'DESCRIPTION'], ...o.args.map((a) => [a.name, a.value ?? '', a.description ?? ''])], 3) + '\n';
  if (o.secrets.length) s += table([['SECRET', 'REQUIRED'], ...o.secrets.map((x) => [x.name, x.required ? 'true' : ''])], 3) + '\n';
  if (o.ssh.length) s += table([['SSH', 'REQUIRED'], ...o.ssh.map((x) => [x.name, x.required ? 'true' : ''])], 3) + '\n';
  return s;
}
