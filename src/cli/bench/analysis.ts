/**
 * From measured scenarios to advice: what a change in each COPY group costs (measured when a scenario
 * changed a file of the group, else estimated from measured step times and labelled so), and hints that
 * only appear when a measurement supports them.
 */
import type { Definition, ExecOp } from '../../llb/types.js';
import { downstream, type StepInfo } from '../report/model.js';
import type { CopySelection } from './changes.js';
import type { ChangeCost, Hint, ScenarioResult } from './types.js';
import { seconds } from '../report/html.js';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[(s.length - 1) >> 1]! : 0;
};

/** Each step's typical duration when it ran, over every measured run (median); absent when it never ran. */
export function stepTimes(scenarios: ScenarioResult[], extra: { id: string; status: string; durationMs: number }[][] = []): Map<string, number> {
  const all = new Map<string, number[]>();
  for (const steps of [...scenarios.map((s) => s.run.steps), ...extra]) {
    for (const r of steps) if (r.status === 'ran') all.set(r.id, [...(all.get(r.id) ?? []), r.durationMs]);
  }
  return new Map([...all].map(([id, xs]) => [id, median(xs)]));
}

export const instruction = (s: StepInfo) => s.name.replace(/^\[[^\]]*\]\s*/, '');

export function changeCosts(steps: StepInfo[], selections: Map<string, CopySelection>, scenarios: ScenarioResult[], times: Map<string, number>): ChangeCost[] {
  const out: ChangeCost[] = [];
  for (const s of steps) {
    const sel = selections.get(s.id);
    if (!sel || !s.contextSources) continue;
    const base = { step: s.id, group: instruction(s), ...(s.line !== undefined ? { line: s.line } : {}), sources: s.contextSources };
    const measured = scenarios.find((x) => x.kind === 'change' && x.changedFile !== undefined && sel.files.some((f) => f.path === x.changedFile) && x.run.steps.some((r) => r.id === s.id && r.status === 'ran'));
    if (measured) {
      const ran = measured.run.steps.filter((r) => r.status === 'ran');
      out.push({ ...base, costMs: ran.reduce((n, r) => n + r.durationMs, 0), basis: 'measured', changedFile: measured.changedFile!, reruns: ran.map((r) => r.id) });
      continue;
    }
    const reruns = [...downstream(steps, s.id)].filter((id) => steps.some((x) => x.id === id));
    out.push({ ...base, costMs: reruns.reduce((n, id) => n + (times.get(id) ?? 0), 0), basis: 'estimated', reruns });
  }
  return out.sort((a, b) => b.costMs - a.costMs);
}

const INSTALL = /\b(npm (ci|install|i)\b|yarn( install)?\b|pnpm (install|i)\b|pip3? install|poetry install|apt-get (install|update)|apk (add|update)|go mod download|cargo (build|fetch)|bundle install|composer install|mvn\b|gradle\b)/;

const CACHE_TARGET: [RegExp, string][] = [
  [/\bnpm\b/, '/root/.npm'],
  [/\byarn\b/, '/usr/local/share/.cache/yarn'],
  [/\bpnpm\b/, '/root/.local/share/pnpm/store'],
  [/\bpip3?\b|\bpoetry\b/, '/root/.cache/pip'],
  [/\bapt-get\b/, '/var/cache/apt'],
  [/\bapk\b/, '/var/cache/apk'],
  [/\bgo mod\b/, '/root/go/pkg/mod'],
  [/\bcargo\b/, '/usr/local/cargo/registry'],
  [/\bbundle\b/, '/usr/local/bundle/cache'],
  [/\bcomposer\b/, '/root/.composer/cache'],
  [/\bmvn\b/, '/root/.m2'],
  [/\bgradle\b/, '/root/.gradle'],
];

const commandOf = (op: ExecOp) => (op.args.length >= 3 && /sh$/.test(op.args[0]!) && op.args[1] === '-c' ? op.args.slice(2).join(' ') : op.args.join(' '));

export interface HintInput {
  def: Definition;
  steps: StepInfo[];
  scenarios: ScenarioResult[];
  costs: ChangeCost[];
  times: Map<string, number>;
  unreachableStages: string[];
}

export function hints({ def, steps, scenarios, costs, times, unreachableStages }: HintInput): Hint[] {
  const out: Hint[] = [];
  const byId = new Map(steps.map((s) => [s.id, s]));
  const at = (s: StepInfo) => (s.line !== undefined ? ` (line ${s.line})` : '');
  // 1. The whole context copied before a dependency install: every change reruns the install.
  for (const c of costs) {
    const whole = c.sources.some((src) => ['.', './', '/', '*', './*', ''].includes(src.trim()));
    if (!whole) continue;
    for (const id of c.reruns) {
      const op = def.ops[id];
      const s = byId.get(id);
      const t = times.get(id);
      if (!s || op?.type !== 'exec' || !INSTALL.test(commandOf(op)) || t === undefined || t < 1000) continue;
      out.push({
        kind: 'copy-before-install',
        message: `\`${c.group}\`${c.line !== undefined ? ` (line ${c.line})` : ''} comes before \`${instruction(s)}\`${at(s)}: every source change reruns it, ${seconds(t)}. Copy only what the install reads (its manifest and lock files) first, run it, then copy the rest.`,
        steps: [c.step, id],
        evidence: `${c.basis} change cost of ${c.group}: ${seconds(c.costMs)}, of which ${instruction(s)}: ${seconds(t)}`,
      });
    }
  }
  // 2. A build arg whose change reruns most of the build because it is used early.
  for (const sc of scenarios.filter((x) => x.kind === 'arg')) {
    const name = sc.name.slice('arg='.length).split('=')[0]!;
    const ran = sc.run.steps.filter((r) => r.status === 'ran');
    const first = ran
      .filter((r) => (r.cacheMiss ?? []).some((m) => m.includes(name)))
      .map((r) => byId.get(r.id))
      .filter((s): s is StepInfo => s !== undefined)
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))[0];
    const cost = ran.reduce((n, r) => n + r.durationMs, 0);
    if (!first || ran.length < 2 || cost < 1000) continue;
    out.push({
      kind: 'early-arg',
      message: `Changing build arg ${name} reruns ${ran.length} steps from \`${instruction(first)}\`${at(first)}, ${seconds(cost)}. If only later steps need it, declare ARG ${name} just before its first use.`,
      steps: ran.map((r) => r.id),
      evidence: `scenario ${sc.name}: ${ran.length} steps ran, ${seconds(cost)} of step time`,
    });
  }
  // 3. Stages the target never reaches.
  for (const st of unreachableStages) {
    out.push({
      kind: 'unreachable-stage',
      message: `Stage ${st} is not needed by the target and is never built: remove it, or build it on purpose with --target ${st}.`,
      steps: [],
      evidence: 'the build reported the stage skipped (not needed by the target stage)',
    });
  }
  // 4. A package download that reruns on changes and has no cache mount.
  for (const [id, op] of Object.entries(def.ops)) {
    if (op.type !== 'exec' || (op.mounts ?? []).some((m) => m.type === 'cache')) continue;
    const cmd = commandOf(op);
    const s = byId.get(id);
    const t = times.get(id);
    if (!s || !INSTALL.test(cmd) || t === undefined || t < 1000) continue;
    const reran = scenarios.filter((x) => x.kind === 'change' && x.run.steps.some((r) => r.id === id && r.status === 'ran'));
    if (reran.length === 0) continue;
    const target = CACHE_TARGET.find(([re]) => re.test(cmd))?.[1] ?? '/root/.cache';
    out.push({
      kind: 'cache-mount',
      message: `\`${instruction(s)}\`${at(s)} reran after ${reran.length} of the measured changes (${seconds(t)} each) and downloads its packages again every time: RUN --mount=type=cache,target=${target} keeps them between builds.`,
      steps: [id],
      evidence: `reran in ${reran.map((x) => x.name).join(', ')}`,
    });
  }
  return out;
}
