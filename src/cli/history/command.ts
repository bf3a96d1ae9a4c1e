/**
 * `tsbuild history [--json]`: recent builds (id, time, target, duration, steps run/cached, result).
 * `tsbuild history inspect ID [--json]`: one build's steps. `tsbuild history report ID --html FILE`: its
 * timeline as the report page (src/cli/report/html.ts). Records come from ./store.ts.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { storeRoot } from '../store-root.js';
import { writeFileAtomic } from '../../fsutil/atomic.js';
import { renderReport, seconds } from '../report/html.js';
import { criticalPath, parallelism } from '../report/model.js';
import { findRecord, listRecords, type BuildRecord } from './store.js';

const USAGE = 'usage: tsbuild history [--json] | history inspect ID [--json] | history report ID --html FILE   [--root DIR]';

export async function historyCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { root: { type: 'string' }, json: { type: 'boolean' }, html: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: USAGE });
  }
  const { values, positionals } = parsed;
  const root = storeRoot(values.root);
  const [sub, id, ...more] = positionals;
  if (more.length) throw new UsageError(`unexpected argument "${more[0]}"`, { hint: USAGE });
  if (sub === undefined || sub === 'ls' || sub === 'list') {
    if (id !== undefined) throw new UsageError(`unexpected argument "${id}"`, { hint: USAGE });
    const recs = await listRecords(root);
    if (values.json) process.stdout.write(JSON.stringify(recs.map(summary), null, 2) + '\n');
    else process.stdout.write(listTable(recs));
    return 0;
  }
  if (sub !== 'inspect' && sub !== 'report') throw new UsageError(`unknown history command "${sub}"`, { hint: USAGE });
  if (id === undefined) throw new UsageError(`tsbuild history ${sub} needs a build ID`, { hint: USAGE });
  const rec = await findRecord(root, id);
  if (sub === 'inspect') {
    process.stdout.write(values.json ? JSON.stringify(rec, null, 2) + '\n' : inspectText(rec));
    return 0;
  }
  if (values.html === undefined) throw new UsageError('tsbuild history report needs --html FILE', { hint: USAGE });
  await writeFileAtomic(resolve(values.html), reportFor(rec));
  process.stdout.write(`report written to ${values.html}\n`);
  return 0;
}

function summary(r: BuildRecord) {
  return {
    id: r.id,
    startedAt: r.startedAt,
    target: r.target ?? null,
    tags: r.tags,
    durationMs: r.run.wallMs,
    ran: r.run.steps.filter((s) => s.status === 'ran' || s.status === 'failed').length,
    cached: r.run.steps.filter((s) => s.status === 'cached').length,
    result: r.result,
  };
}

function listTable(recs: BuildRecord[]): string {
  if (recs.length === 0) return 'no builds recorded\n';
  const rows = [['ID', 'STARTED', 'TARGET', 'DURATION', 'RAN', 'CACHED', 'RESULT'], ...recs.map((r) => {
    const s = summary(r);
    return [s.id, s.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), s.target ?? (s.tags[0] ?? '-'), seconds(s.durationMs), String(s.ran), String(s.cached), s.result];
  })];
  return columns(rows);
}

export function columns(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('   ')).join('\n') + '\n';
}

function inspectText(r: BuildRecord): string {
  const runs = new Map(r.run.steps.map((s) => [s.id, s]));
  const out = [
    `ID:         ${r.id}`,
    `Started:    ${r.startedAt}`,
    `Context:    ${r.context}`,
    `Dockerfile: ${r.dockerfile}`,
    ...(r.target ? [`Target:     ${r.target}`] : []),
    ...(r.tags.length ? [`Tags:       ${r.tags.join(', ')}`] : []),
    `Duration:   ${seconds(r.run.wallMs)}`,
    `Result:     ${r.result}${r.error ? ` (${r.error})` : ''}`,
    '',
  ];
  const rows = [['STEP', 'STATUS', 'TIME'], ...r.steps.map((s) => {
    const x = runs.get(s.id);
    return [s.name, x?.status ?? 'not-reached', x && (x.status === 'ran' || x.status === 'failed') ? seconds(x.durationMs) : '-'];
  })];
  out.push(columns(rows).trimEnd());
  for (const s of r.steps) for (const m of runs.get(s.id)?.cacheMiss ?? []) out.push(`  ${s.name}: cache miss: ${m}`);
  return out.join('\n') + '\n';
}

function reportFor(r: BuildRecord): string {
  const cp = criticalPath(r.steps, r.run);
  return renderReport({
    title: `Build ${r.id}`,
    subtitle: `${r.dockerfile} · ${r.startedAt} · ${r.result}${r.error ? `: ${r.error}` : ''}`,
    steps: r.steps,
    cards: [
      { label: 'wall time', value: seconds(r.run.wallMs) },
      { label: 'steps ran', value: String(r.run.steps.filter((s) => s.status === 'ran').length) },
      { label: 'steps cached', value: String(r.run.steps.filter((s) => s.status === 'cached').length) },
      { label: 'critical path', value: seconds(cp.ms) },
      { label: 'parallelism', value: `${parallelism(r.run).toFixed(2)}×` },
    ],
    timelines: [{ label: r.target ? `target ${r.target}` : 'build', run: r.run }],
  });
}
