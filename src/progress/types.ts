/**
 * Progress is a stream of typed events. Producers (solver, exporters, CLI) call `emit`; only
 * src/cli/render/* turns events into terminal output. Events never carry credentials or secrets.
 * `id` is the vertex digest (or an exporter step id); `name` the human description.
 */
export type ProgressEvent =
  /** cacheMiss: why the step's cache lookup missed (absent when unknown, e.g. exporter steps). */
  | { type: 'vertex.started'; id: string; name: string; at: number; cacheMiss?: string[] }
  | { type: 'vertex.cached'; id: string; name: string; at: number }
  | { type: 'vertex.done'; id: string; name: string; at: number; durationMs: number }
  | { type: 'vertex.failed'; id: string; name: string; at: number; error: string }
  | { type: 'vertex.skipped'; id: string; name: string; reason: string }
  | { type: 'vertex.log'; id: string; stream: 'stdout' | 'stderr'; data: string }
  /** Bytes moved so far by a transfer step (blob pull or push); `total` when known. */
  | { type: 'vertex.progress'; id: string; name: string; current: number; total: number }
  /**
   * A sub-step of a step that is shown after it (as BuildKit's timed statuses): `name` says what (e.g.
   * "creating layer"); without `durationMs` it started at `at`, with it it is done.
   */
  | { type: 'vertex.status'; id: string; name: string; at: number; durationMs?: number }
  | { type: 'warning'; message: string; file?: string; line?: number }
  | { type: 'info'; message: string };

export interface ProgressSink {
  emit(event: ProgressEvent): void;
}

export const nullProgress: ProgressSink = { emit() {} };
