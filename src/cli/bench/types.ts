/**
 * The `tsbuild bench --json` document. Its JSON Schema is schemas/bench-report.schema.json; `schema`
 * names the version. Stable: fields are only added (optional) within a version; a removal or a change of
 * meaning makes a new version. Times are milliseconds, sizes bytes.
 */
import type { BuildRun, StepInfo } from '../report/model.js';

export const BENCH_SCHEMA = 'tsbuild-bench/1';

export type ScenarioKind = 'cold' | 'noop' | 'change' | 'arg' | 'base';

export interface ScenarioResult {
  /** `cold`, `noop`, `change=PATH`, `arg=NAME=VALUE`, `base`; all-files adds one `change=FILE` per COPY group. */
  name: string;
  kind: ScenarioKind;
  /** change: the context file modified. */
  changedFile?: string;
  /** all-files: the COPY step whose sources the change is in. */
  group?: string;
  /** Median wall time of the build command (child process, start-up included). */
  wallMs: number;
  /** Every run's wall time, in run order. */
  wallMsRuns: number[];
  ran: number;
  cached: number;
  criticalPath: { ms: number; steps: string[] };
  /** Work time over the busy span: 1 = one step at a time. */
  parallelism: number;
  /** Work time per stage. */
  stages: { stage: string; ms: number }[];
  /** Bytes of context files selected by the COPY/ADD steps that ran. */
  bytesReadFromContext: number;
  /** Bytes of new blobs in the content store: layers, plus the image config and manifest. */
  bytesWritten: number;
  /** Per step that ran (median run): bytes it read from the context (COPY/ADD) and wrote as its layer blob. */
  stepBytes?: { step: string; read: number; written: number }[];
  /** The median run (by wall time): each step's status, start, duration and miss reasons. */
  run: BuildRun;
}

export interface ChangeCost {
  /** The COPY/ADD step reading the group (its step id). */
  step: string;
  /** The instruction, e.g. `COPY src/ ./src/`. */
  group: string;
  line?: number;
  /** The context paths it names. */
  sources: string[];
  /** Seconds-as-ms that a change in the group costs: the time of the steps that rerun. */
  costMs: number;
  /** measured: rebuilt after changing `changedFile` (all-files, change=); estimated: from measured step times. */
  basis: 'measured' | 'estimated';
  changedFile?: string;
  /** Steps that rerun (measured) or would (estimated). */
  reruns: string[];
}

export interface Hint {
  kind: 'copy-before-install' | 'early-arg' | 'unreachable-stage' | 'cache-mount';
  message: string;
  /** Step ids the hint is about. */
  steps: string[];
  /** The measurement behind it. */
  evidence: string;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  createdAt: string;
  context: string;
  dockerfile: string;
  target: string | null;
  buildArgs: Record<string, string>;
  /** Runs per scenario (--runs). */
  runs: number;
  /** true: the user's store was used (--in-place). */
  inPlace: boolean;
  steps: StepInfo[];
  scenarios: ScenarioResult[];
  changeCosts: ChangeCost[];
  hints: Hint[];
  /** Stages the target does not reach (never built). */
  unreachableStages: string[];
}
