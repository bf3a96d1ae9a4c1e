/**
 * `tsbuild bench [OPTIONS] CONTEXT`: build the context under scenarios, each `--runs N` times (medians),
 * against stores of the bench's own (never the user's store, unless --in-place), and report per step and
 * per stage times, what ran and why, the critical path, parallelism, bytes, what a change in each COPY
 * group costs, and hints. Outputs: a terminal table, `--json FILE` (./types.ts, schemas/bench-report.schema.json),
 * `--html FILE` (src/cli/report/html.ts); `--compare OTHER.json` sets this bench beside an earlier one.
 *
 * Scenarios (`--scenario`, repeatable or comma-separated; default cold,noop,all-files):
 *   cold            no build cache (base images present)
 *   noop            nothing changed (answered by the rebuild memo, as a repeated command is)
 *   change=PATH     one context file (or the first file below a directory) modified
 *   arg=NAME=VALUE  a build arg changed
 *   base            the base images updated (same layers, new digests)
 *   all-files       change=FILE for each COPY/ADD group in turn (its first file): measured change costs
 * Every run starts from a fresh copy of a warm store (the user's store plus one build of the context), in
 * a temp dir that is removed at the end; the context is copied too, so changes never touch the user's files.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil/atomic.js';
import type { Definition } from '../../llb/types.js';
import { storeRoot } from '../store-root.js';
import { criticalPath, parallelism, runFromEvents, stageTimes, stepsOf, type BuildRun, type StepInfo } from '../report/model.js';
import { blobSizes, layerBytesByStep, copyStore, copyTree, runTsbuild, tsbuildOutput, type ChildBuild } from './runner.js';
import { changeFile, copySelections, fileToChange, updateBaseImages, type CopySelection } from './changes.js';
import { changeCosts, hints, instruction, stepTimes } from './analysis.js';
import { BENCH_SCHEMA, type BenchReport, type ScenarioKind, type ScenarioResult } from './types.js';
import { benchHtml, benchText, readCompare } from './output.js';

const USAGE =
  'usage: tsbuild bench [--scenario cold|noop|change=PATH|arg=NAME=VALUE|base|all-files]... [--runs N] [--json FILE] [--html FILE] [--compare OTHER.json] [-f DOCKERFILE] [--target STAGE] [--build-arg K=V]... [--in-place] [--root DIR] CONTEXT';

interface Spec {
  kind: ScenarioKind;
  name: string;
  path?: string;
  arg?: [string, string];
  group?: string;
}

export interface BenchOptions {
  context: string;
  file?: string;
  target?: string;
  buildArgs: string[];
  specs: (Spec | 'all-files')[];
  runs: number;
  json?: string;
  html?: string;
  compare?: string;
  inPlace: boolean;
  root?: string;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        scenario: { type: 'string', multiple: true, short: 's' },
        runs: { type: 'string' },
        json: { type: 'string' },
        html: { type: 'string' },
        compare: { type: 'string' },
        file: { type: 'string', short: 'f' },
        target: { type: 'string' },
        'build-arg': { type: 'string', multiple: true },
        'in-place': { type: 'boolean' },
        root: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: USAGE });
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`"tsbuild bench" takes 1 context argument, got ${positionals.length}`, { hint: USAGE });
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new UsageError(`invalid --runs "${values.runs}": expected a whole number from 1 to 100`);
  const words = (values.scenario ?? ['cold,noop,all-files']).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const specs = words.map(parseScenario);
  const inPlace = values['in-place'] ?? false;
  if (inPlace && specs.some((s) => s !== 'all-files' && (s.kind === 'base' || s.kind === 'cold'))) {
    throw new UsageError('--in-place cannot run the cold or base scenarios (they would empty the cache or change base images of your store)');
  }
  return {
    context: positionals[0]!,
    ...(values.file !== undefined ? { file: values.file } : {}),
    ...(values.target !== undefined ? { target: values.target } : {}),
    buildArgs: values['build-arg'] ?? [],
    specs,
    runs,
    ...(values.json !== undefined ? { json: values.json } : {}),
    ...(values.html !== undefined ? { html: values.html } : {}),
    ...(values.compare !== undefined ? { compare: values.compare } : {}),
    inPlace,
    ...(values.root !== undefined ? { root: values.root } : {}),
  };
}

function parseScenario(w: string): Spec | 'all-files' {
  if (w === 'all-files') return 'all-files';
  if (w === 'cold' || w === 'noop' || w === 'base') return { kind: w, name: w };
  if (w.startsWith('change=') && w.length > 7) return { kind: 'change', name: w, path: w.slice(7) };
  const m = /^arg=([^=]+)=(.*)$/s.exec(w);
  if (m) return { kind: 'arg', name: w, arg: [m[1]!, m[2]!] };
  throw new UsageError(`invalid --scenario "${w}": expected cold, noop, change=PATH, arg=NAME=VALUE, base or all-files`, { hint: USAGE });
}

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

export async function benchCommand(argv: string[]): Promise<number> {
  const opts = parseBenchArgs(argv);
  const before = opts.compare !== undefined ? readCompare(opts.compare) : undefined;
  const report = await runBench(opts);
  process.stdout.write(benchText(report, before));
  if (opts.json !== undefined) await writeFileAtomic(resolve(opts.json), JSON.stringify(report, null, 2) + '\n');
  if (opts.html !== undefined) await writeFileAtomic(resolve(opts.html), benchHtml(report, before));
  return 0;
}

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const userRoot = storeRoot(opts.root);
  const contextDir = resolve(opts.context);
  const dockerfile = resolve(opts.file ?? join(contextDir, 'Dockerfile'));
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-'));
  try {
    // The context is copied: changes go to the copy. A Dockerfile inside the context follows it.
    const ctx = join(work, 'context');
    copyTree(contextDir, ctx, { link: false });
    const inside = relative(contextDir, dockerfile);
    const df = inside.startsWith('..') || inside.startsWith(sep) ? dockerfile : join(ctx, inside);
    const buildFlags = ['--progress', 'rawjson', '-f', df, ...(opts.target !== undefined ? ['--target', opts.target] : []), ...opts.buildArgs.flatMap((a) => ['--build-arg', a])];
    const warm = opts.inPlace ? userRoot : join(work, 'warm');
    if (!opts.inPlace) {
      log(`copying the store ${userRoot}`);
      copyStore(userRoot, warm, { link: (part) => part === 'content' || part === 'snapshots' });
    }
    const build = (root: string, extra: string[], what: string): Promise<ChildBuild> => runTsbuild(['build', ...buildFlags, ...extra, '--root', root, ctx], what);
    const definition = JSON.parse(tsbuildOutput(['build', ...buildFlags, '--print-definition', '--root', warm, ctx], 'reading the build definition')) as Definition;
    const steps = stepsOf(definition);
    const selections = await copySelections(definition, ctx);
    log('warming the cache (one build)');
    const baseline = await build(warm, [], 'warm-up build');
    const unreachableStages = baseline.events.flatMap((e) => (e.type === 'vertex.skipped' && e.reason.startsWith('not needed') ? [e.name.replace(/^\[[^\]]*\]\s*stage\s*/, '')] : []));
    const baselineRun = runFromEvents(steps, baseline.events, baseline.startedAt, baseline.wallMs);

    const specs: Spec[] = [];
    for (const s of opts.specs) {
      if (s !== 'all-files') specs.push(s.kind === 'change' ? { ...s, path: fileToChange(ctx, s.path!) } : s);
      else specs.push(...allFiles(steps, selections));
    }
    // noop first: its runs want a context nothing touched within the last second (the rebuild memo
    // trusts no racy entry), and every change elsewhere is restored later.
    specs.sort((a, b) => Number(b.kind === 'noop') - Number(a.kind === 'noop'));
    let lastChange = 0;
    let runNo = 0;
    const scenarios: ScenarioResult[] = [];
    for (const spec of specs) {
      const runs: { run: BuildRun; bytesWritten: number; layers: Map<string, number> }[] = [];
      for (let k = 1; k <= opts.runs; k++) {
        runNo += 1;
        log(`${spec.name}: run ${k}/${opts.runs}`);
        const root = opts.inPlace ? warm : join(work, `run-${runNo}`);
        if (!opts.inPlace) copyStore(warm, root, { link: () => true, ...(spec.kind === 'cold' ? { parts: ['content', 'images', 'registry', 'config.json'] } : {}) });
        try {
          const extra: string[] = [];
          let restore: (() => void) | undefined;
          if (spec.kind === 'noop') {
            const wait = lastChange + 1100 - Date.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            if (!opts.inPlace) await build(root, [], `${spec.name}: priming the store copy`);
          } else if (spec.kind === 'change') {
            restore = changeFile(ctx, spec.path!);
          } else if (spec.kind === 'arg') {
            extra.push('--build-arg', `${spec.arg![0]}=${spec.arg![1]}`);
          } else if (spec.kind === 'base') {
            await updateBaseImages(definition, root, runNo);
          }
          const blobsBefore = blobSizes(root);
          let child: ChildBuild;
          try {
            child = await build(root, extra, spec.name);
          } finally {
            if (restore) {
              restore();
              lastChange = Date.now();
            }
          }
          let written = 0;
          const fresh = new Map<string, number>();
          for (const [hex, size] of blobSizes(root)) if (!blobsBefore.has(hex)) (written += size), fresh.set(hex, size);
          runs.push({ run: runFromEvents(steps, child.events, child.startedAt, child.wallMs), bytesWritten: written, layers: layerBytesByStep(root, fresh) });
        } finally {
          if (!opts.inPlace) rmSync(root, { recursive: true, force: true });
        }
      }
      scenarios.push(summarize(spec, runs, steps, selections));
    }
    const times = stepTimes(scenarios, [baselineRun.steps]);
    const costs = changeCosts(steps, selections, scenarios, times);
    return {
      schema: BENCH_SCHEMA,
      createdAt: new Date().toISOString(),
      context: contextDir,
      dockerfile,
      target: opts.target ?? null,
      buildArgs: Object.fromEntries(opts.buildArgs.map((a) => [a.split('=')[0]!, a.includes('=') ? a.slice(a.indexOf('=') + 1) : ''])),
      runs: opts.runs,
      inPlace: opts.inPlace,
      steps,
      scenarios,
      changeCosts: costs,
      hints: hints({ def: definition, steps, scenarios, costs, times, unreachableStages }),
      unreachableStages,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** all-files: one change=FILE per COPY group (its first file), in Dockerfile order. */
function allFiles(steps: StepInfo[], selections: Map<string, CopySelection>): Spec[] {
  const out: Spec[] = [];
  for (const s of steps) {
    const file = selections.get(s.id)?.files[0];
    if (!file) continue;
    out.push({ kind: 'change', name: `change=${file.path}`, path: file.path, group: instruction(s) });
  }
  return out;
}

function summarize(spec: Spec, runs: { run: BuildRun; bytesWritten: number; layers: Map<string, number> }[], steps: StepInfo[], selections: Map<string, CopySelection>): ScenarioResult {
  const order = runs.map((r, i) => i).sort((a, b) => runs[a]!.run.wallMs - runs[b]!.run.wallMs);
  const mid = runs[order[(order.length - 1) >> 1]!]!;
  const { run } = mid;
  const cp = criticalPath(steps, run);
  const ranIds = run.steps.filter((r) => r.status === 'ran').map((r) => r.id);
  return {
    name: spec.name,
    kind: spec.kind,
    ...(spec.path !== undefined ? { changedFile: spec.path } : {}),
    ...(spec.group !== undefined ? { group: spec.group } : {}),
    wallMs: Math.round(run.wallMs),
    wallMsRuns: runs.map((r) => Math.round(r.run.wallMs)),
    ran: ranIds.length,
    cached: run.steps.filter((r) => r.status === 'cached').length,
    criticalPath: { ms: cp.ms, steps: cp.ids },
    parallelism: Math.round(parallelism(run) * 100) / 100,
    stages: stageTimes(steps, run),
    bytesReadFromContext: ranIds.reduce((n, id) => n + (selections.get(id)?.bytes ?? 0), 0),
    bytesWritten: mid.bytesWritten,
    stepBytes: ranIds.map((id) => ({ step: id, read: selections.get(id)?.bytes ?? 0, written: mid.layers.get(steps.find((s) => s.id === id)?.name ?? '') ?? 0 })),
    run: { ...run, wallMs: Math.round(run.wallMs) },
  };
}

