/**
 * The timeline model shared by build history (src/cli/history/), `tsbuild bench` (src/cli/bench/) and the
 * HTML report (./html.ts): what a build's steps are (from its Definition) and what happened to each in one
 * build (from its progress events). Plain data, JSON as it is.
 *
 * Words: a *step* is a non-trivial op of the Definition (an image source, RUN, COPY/ADD, WORKDIR, …; the
 * build context and scratch are not steps); a *run* is one build of those steps; a step *ran* (executed),
 * was *cached* (a cache hit), *failed*, or was *not reached* (the build ended first).
 */
import type { Definition, Op } from '../../llb/types.js';
import type { ProgressEvent } from '../../progress/types.js';

export type StepKind = 'image' | 'http' | 'exec' | 'copy' | 'file';

export interface StepInfo {
  id: string;
  name: string;
  /** Stage name or index; "" for steps outside every stage. */
  stage: string;
  /** 1-based Dockerfile line. */
  line?: number;
  kind: StepKind;
  /** Steps this one reads (inputs that are steps themselves). */
  inputs: string[];
  /** COPY/ADD from the build context: the context paths it names, as written. */
  contextSources?: string[];
}

export type StepStatus = 'ran' | 'cached' | 'failed' | 'not-reached';

export interface StepRun {
  id: string;
  status: StepStatus;
  /** Milliseconds from the build's start to the step's start (cached steps: to when the hit was known). */
  startMs: number;
  durationMs: number;
  /** Why the cache missed (steps that ran). */
  cacheMiss?: string[];
  error?: string;
}

export interface BuildRun {
  /** Start of the build (ms since the epoch). */
  startedAt: number;
  /** Wall time of the whole command, or of the solve when recorded in-process. */
  wallMs: number;
  steps: StepRun[];
}

const kindOf = (op: Op): StepKind | undefined => {
  if (op.type === 'exec') return 'exec';
  if (op.type === 'file') return op.actions.some((a) => a.action === 'copy') ? 'copy' : 'file';
  if (op.source.kind === 'image') return 'image';
  if (op.source.kind === 'http') return 'http';
  return undefined; // local context and scratch: not steps
};

/** The steps of a Definition, in the Definition's order. */
export function stepsOf(def: Definition): StepInfo[] {
  const out: StepInfo[] = [];
  for (const [id, op] of Object.entries(def.ops)) {
    const kind = kindOf(op);
    if (!kind) continue;
    const md = def.metadata[id];
    const inputs = op.inputs.filter((i) => {
      const o = def.ops[i];
      return o !== undefined && kindOf(o) !== undefined;
    });
    const step: StepInfo = { id, name: md?.description ?? id, stage: md?.stage ?? '', kind, inputs: [...new Set(inputs)] };
    if (md?.location) step.line = md.location.line;
    if (op.type === 'file') {
      const sources: string[] = [];
      for (const a of op.actions) {
        if (a.action !== 'copy') continue;
        const from = def.ops[op.inputs[a.sourceInput] ?? ''];
        if (from?.type === 'source' && from.source.kind === 'local') sources.push(...a.src);
      }
      if (sources.length) step.contextSources = sources;
    }
    out.push(step);
  }
  return out;
}

/**
 * One build's run of `steps`, from its progress events. An event whose id is not one of `steps` is matched
 * by its step name: a build with other build args has other op digests for the same Dockerfile steps.
 */
export function runFromEvents(steps: StepInfo[], events: ProgressEvent[], startedAt: number, wallMs: number): BuildRun {
  const byId = new Map<string, StepRun>();
  const ids = new Set(steps.map((s) => s.id));
  const byName = new Map(steps.map((s) => [s.name, s.id]));
  for (const ev of events) {
    if (ev.type !== 'vertex.started' && ev.type !== 'vertex.cached' && ev.type !== 'vertex.done' && ev.type !== 'vertex.failed') continue;
    const id = ids.has(ev.id) ? ev.id : byName.get(ev.name);
    if (id === undefined) continue;
    let r = byId.get(id);
    if (!r) {
      r = { id, status: 'not-reached', startMs: 0, durationMs: 0 };
      byId.set(id, r);
    }
    if (ev.type === 'vertex.started') {
      r.status = 'ran';
      r.startMs = Math.max(0, ev.at - startedAt);
      if (ev.cacheMiss?.length) r.cacheMiss = ev.cacheMiss;
    } else if (ev.type === 'vertex.cached') {
      r.status = 'cached';
      r.startMs = Math.max(0, ev.at - startedAt);
    } else if (ev.type === 'vertex.done') {
      r.durationMs = ev.durationMs;
    } else {
      r.status = 'failed';
      r.error = ev.error;
      r.durationMs = Math.max(0, ev.at - startedAt - r.startMs);
    }
  }
  return {
    startedAt,
    wallMs,
    steps: steps.map((s) => byId.get(s.id) ?? { id: s.id, status: 'not-reached', startMs: 0, durationMs: 0 }),
  };
}

/**
 * The chain of steps that decided the build's length: from the step that ended last, back through the
 * input that ended last, each time. Returns step ids, first step first, and the sum of their durations.
 */
export function criticalPath(steps: StepInfo[], run: BuildRun): { ids: string[]; ms: number } {
  const info = new Map(steps.map((s) => [s.id, s]));
  const rs = new Map(run.steps.map((r) => [r.id, r]));
  const end = (id: string) => {
    const r = rs.get(id);
    return r && r.status !== 'cached' && r.status !== 'not-reached' ? r.startMs + r.durationMs : -1;
  };
  let cur = [...rs.keys()].filter((id) => end(id) >= 0).sort((a, b) => end(b) - end(a))[0];
  const ids: string[] = [];
  let ms = 0;
  while (cur !== undefined) {
    ids.unshift(cur);
    ms += rs.get(cur)!.durationMs;
    const next: string | undefined = (info.get(cur)?.inputs ?? []).filter((i) => end(i) >= 0).sort((a, b) => end(b) - end(a))[0];
    cur = next;
  }
  return { ids, ms };
}

/** Work time per stage (sum of the durations of steps that ran or failed), by stage, in first-seen order. */
export function stageTimes(steps: StepInfo[], run: BuildRun): { stage: string; ms: number }[] {
  const out = new Map<string, number>();
  const rs = new Map(run.steps.map((r) => [r.id, r]));
  for (const s of steps) {
    const r = rs.get(s.id);
    out.set(s.stage, (out.get(s.stage) ?? 0) + (r && (r.status === 'ran' || r.status === 'failed') ? r.durationMs : 0));
  }
  return [...out].map(([stage, ms]) => ({ stage, ms }));
}

/**
 * How busy the build was in parallel: work time (sum of step durations) over the span from the first
 * step's start to the last step's end. 1 = one thing at a time; 0 when nothing ran.
 */
export function parallelism(run: BuildRun): number {
  const ran = run.steps.filter((r) => r.status === 'ran' || r.status === 'failed');
  if (ran.length === 0) return 0;
  const first = Math.min(...ran.map((r) => r.startMs));
  const last = Math.max(...ran.map((r) => r.startMs + r.durationMs));
  const work = ran.reduce((n, r) => n + r.durationMs, 0);
  return last > first ? work / (last - first) : 1;
}

/** Every step that depends on `id`, directly or not, and `id` itself. */
export function downstream(steps: StepInfo[], id: string): Set<string> {
  const users = new Map<string, string[]>();
  for (const s of steps) for (const i of s.inputs) users.set(i, [...(users.get(i) ?? []), s.id]);
  const seen = new Set<string>([id]);
  const todo = [id];
  while (todo.length) for (const u of users.get(todo.pop()!) ?? []) if (!seen.has(u)) seen.add(u), todo.push(u);
  return seen;
}
