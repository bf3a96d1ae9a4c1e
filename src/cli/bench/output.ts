/**
 * `tsbuild bench` output: the terminal tables, the HTML page (src/cli/report/html.ts) and `--compare`
 * (an earlier `--json` beside this one; a difference counts when it is over 10% and 0.2 s).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { decimalSize } from '../../units/bytes.js';
import { renderReport, seconds, type ReportCell, type ReportTable } from '../report/html.js';
import { columns } from '../history/command.js';
import { instruction } from './analysis.js';
import { BENCH_SCHEMA, type BenchReport } from './types.js';

export function readCompare(path: string): BenchReport {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--compare ${path}: cannot read it as JSON: ${(err as Error).message}`);
  }
  const d = doc as Partial<BenchReport>;
  if (d.schema !== BENCH_SCHEMA || !Array.isArray(d.scenarios) || !Array.isArray(d.changeCosts)) {
    throw new UsageError(`--compare ${path}: not a tsbuild bench report (schema ${BENCH_SCHEMA})`, { hint: 'write one with tsbuild bench --json FILE' });
  }
  return d as BenchReport;
}

/** `after` against `before`: the cell class and the signed change. */
function delta(before: number | undefined, after: number): { text: string; cls?: ReportCell['cls'] } {
  if (before === undefined) return { text: 'new' };
  const d = after - before;
  const pct = before > 0 ? (d / before) * 100 : 0;
  const text = `${d >= 0 ? '+' : '−'}${seconds(Math.abs(d))} (${d >= 0 ? '+' : '−'}${Math.abs(pct).toFixed(0)}%)`;
  if (Math.abs(d) < 200 || Math.abs(pct) < 10) return { text, cls: 'muted' };
  return { text, cls: d < 0 ? 'better' : 'worse' };
}

const ms = (x: number) => seconds(x);

function tables(r: BenchReport, before?: BenchReport): ReportTable[] {
  const out: ReportTable[] = [];
  out.push({
    title: `Scenarios (median of ${r.runs} run${r.runs === 1 ? '' : 's'})`,
    columns: ['scenario', 'wall', 'ran', 'cached', 'critical path', 'parallelism', 'context read', 'written'],
    rows: r.scenarios.map((s) => [
      s.name,
      { text: ms(s.wallMs), cls: 'num' },
      { text: String(s.ran), cls: 'num' },
      { text: String(s.cached), cls: 'num' },
      { text: ms(s.criticalPath.ms), cls: 'num' },
      { text: `${s.parallelism.toFixed(2)}×`, cls: 'num' },
      { text: decimalSize(s.bytesReadFromContext), cls: 'num' },
      { text: decimalSize(s.bytesWritten), cls: 'num' },
    ]),
  });
  out.push({
    title: 'Step times',
    note: '"cached": a cache hit; "—": not part of that build. Ran steps show their time and, in the report, their miss reasons.',
    columns: ['step', ...r.scenarios.map((s) => s.name)],
    rows: r.steps.map((st) => [
      st.name,
      ...r.scenarios.map((s): ReportCell => {
        const x = s.run.steps.find((y) => y.id === st.id);
        if (!x || x.status === 'not-reached') return { text: '—', cls: 'muted' };
        if (x.status === 'cached') return { text: 'cached', cls: 'muted' };
        return { text: `${x.status === 'failed' ? 'failed ' : ''}${ms(x.durationMs)}`, cls: 'num' };
      }),
    ]),
  });
  out.push({
    title: 'Stage times (work per stage)',
    columns: ['stage', ...r.scenarios.map((s) => s.name)],
    rows: [...new Set(r.steps.map((s) => s.stage))].map((stage) => [stage || '(none)', ...r.scenarios.map((s): ReportCell => ({ text: ms(s.stages.find((x) => x.stage === stage)?.ms ?? 0), cls: 'num' }))]),
  });
  out.push({
    title: 'What a change costs',
    note: 'Time of the steps that rerun when a file that COPY/ADD reads changes, most expensive first. "measured": rebuilt after changing the file named; "estimated": from the measured time of each step that would rerun.',
    columns: ['cost', 'basis', 'reruns', 'COPY/ADD', 'line', 'file changed'],
    rows: r.changeCosts.map((c) => [{ text: ms(c.costMs), cls: 'num' }, c.basis, { text: String(c.reruns.length), cls: 'num' }, c.group, c.line !== undefined ? String(c.line) : '', c.changedFile ?? '']),
  });
  if (before) {
    // A change scenario is the same one when it changed the same file (change=src and change=src/main.txt).
    const key = (s: BenchReport['scenarios'][number]) => (s.kind === 'change' && s.changedFile !== undefined ? `change=${s.changedFile}` : s.name);
    const old = new Map(before.scenarios.map((s) => [key(s), s]));
    out.push({
      title: 'Compared with the earlier bench',
      note: `${before.dockerfile} at ${before.createdAt} → now. Green: faster; red: slower (over 10% and 0.2 s).`,
      columns: ['scenario', 'before', 'after', 'change', 'ran before', 'ran after'],
      rows: r.scenarios.map((s) => {
        const b = old.get(key(s));
        const d = delta(b?.wallMs, s.wallMs);
        return [s.name, b ? ms(b.wallMs) : '—', ms(s.wallMs), { text: d.text, ...(d.cls ? { cls: d.cls } : {}) }, b ? String(b.ran) : '—', String(s.ran)];
      }),
    });
    const oldCost = new Map(before.changeCosts.map((c) => [c.sources.join(' '), c]));
    out.push({
      title: 'Change costs compared',
      columns: ['sources', 'before', 'after', 'change'],
      rows: r.changeCosts.map((c) => {
        const b = oldCost.get(c.sources.join(' '));
        const d = delta(b?.costMs, c.costMs);
        return [c.sources.join(' '), b ? `${ms(b.costMs)} (${b.basis})` : '—', `${ms(c.costMs)} (${c.basis})`, { text: d.text, ...(d.cls ? { cls: d.cls } : {}) }];
      }),
    });
  }
  return out;
}

export function benchText(r: BenchReport, before?: BenchReport): string {
  const parts: string[] = [];
  for (const t of tables(r, before)) {
    parts.push(t.title);
    parts.push(columns([t.columns, ...t.rows.map((row) => row.map((c) => (typeof c === 'string' ? c : c.text)))]));
  }
  if (r.hints.length) parts.push('Hints', ...r.hints.map((h) => ` - ${h.message}`), '');
  else parts.push('Hints: none (no measurement here supports one)', '');
  return parts.join('\n');
}

export function benchHtml(r: BenchReport, before?: BenchReport): string {
  const cost = r.changeCosts[0];
  const sc = (name: string) => r.scenarios.find((s) => s.name === name);
  return renderReport({
    title: `tsbuild bench: ${r.dockerfile}`,
    subtitle: `${r.context}${r.target ? ` · target ${r.target}` : ''} · ${r.runs} run${r.runs === 1 ? '' : 's'} per scenario · ${r.createdAt}`,
    steps: r.steps,
    cards: [
      ...(sc('cold') ? [{ label: 'cold build', value: seconds(sc('cold')!.wallMs) }] : []),
      ...(sc('noop') ? [{ label: 'unchanged rebuild', value: seconds(sc('noop')!.wallMs) }] : []),
      ...(cost ? [{ label: `costliest change (${cost.basis}): ${cost.group}`, value: seconds(cost.costMs) }] : []),
      { label: 'steps', value: String(r.steps.length) },
    ],
    hints: r.hints.map((h) => h.message),
    timelines: r.scenarios.map((s) => ({
      label: s.name + (s.group ? ` — ${s.group}` : ''),
      run: s.run,
      extra: stepDetails(r, s),
    })),
    tables: tables(r, before),
  });
}

/** Detail lines of a step in a scenario's timeline: its context sources and, for steps that ran, the bytes. */
export function stepDetails(r: BenchReport, s: BenchReport['scenarios'][number]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const st of r.steps) if (st.contextSources) out[st.id] = [`context sources: ${st.contextSources.join(' ')}`, `instruction: ${instruction(st)}`];
  for (const b of s.stepBytes ?? []) {
    (out[b.step] ??= []).push(`context read: ${decimalSize(b.read)}`, `layer written: ${decimalSize(b.written)}`);
  }
  return out;
}
