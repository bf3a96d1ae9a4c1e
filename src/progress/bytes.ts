import type { ProgressSink } from './types.js';

/**
 * A byte counter for a transfer step: call it with the running total; it emits `vertex.progress` at
 * most every `intervalMs`, and always when the transfer completes (current === total).
 */
export function byteProgress(sink: ProgressSink | undefined, id: string, name: string, intervalMs = 200): (current: number, total: number) => void {
  let last = 0;
  return (current, total) => {
    if (!sink) return;
    const now = Date.now();
    if (current < total && now - last < intervalMs) return;
    last = now;
    sink.emit({ type: 'vertex.progress', id, name, current, total });
  };
}

