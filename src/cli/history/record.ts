/**
 * Records a build for the history (./store.ts): a progress sink in front of the renderer keeps the step
 * events (not the logs), and `finish()` turns them and the Definition into a BuildRecord and saves it,
 * best effort through src/diagnostics.ts (a warning when it cannot be written, never a failed build).
 */
import type { Diagnostics } from '../../diagnostics.js';
import type { Definition } from '../../llb/types.js';
import type { ProgressEvent } from '../../progress/types.js';
import type { Renderer } from '../render/select.js';
import { runFromEvents, stepsOf } from '../report/model.js';
import { newRecordId, saveRecord, type BuildRecord } from './store.js';

export class HistoryRecorder {
  readonly startedAt = Date.now();
  private readonly events: ProgressEvent[] = [];

  /** `renderer`, with every step event also kept here. */
  tee(renderer: Renderer): Renderer {
    const events = this.events;
    return {
      emit(ev) {
        if (ev.type === 'vertex.started' || ev.type === 'vertex.cached' || ev.type === 'vertex.done' || ev.type === 'vertex.failed') events.push(ev);
        renderer.emit(ev);
      },
      close: () => renderer.close(),
    };
  }

  /** Save this build's record; never throws. */
  async finish(opts: {
    root: string;
    definition: Definition;
    context: string;
    dockerfile: string;
    target?: string;
    tags: string[];
    error?: unknown;
    diagnostics: Diagnostics;
  }): Promise<void> {
    await opts.diagnostics.bestEffort(
      'build history',
      async () => {
        const steps = stepsOf(opts.definition);
        const rec: BuildRecord = {
          format: 1,
          id: newRecordId(),
          startedAt: new Date(this.startedAt).toISOString(),
          context: opts.context,
          dockerfile: opts.dockerfile,
          ...(opts.target !== undefined ? { target: opts.target } : {}),
          tags: opts.tags,
          result: opts.error === undefined ? 'ok' : 'failed',
          ...(opts.error !== undefined ? { error: oneLine(opts.error) } : {}),
          steps,
          run: runFromEvents(steps, this.events, this.startedAt, Date.now() - this.startedAt),
        };
        await saveRecord(opts.root, rec);
      },
    );
  }
}

function oneLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.slice(0, 500);
}
