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

/** 1.5 kB, 12.3 MB: decimal units, as docker prints transfer sizes. */
export function formatTransfer(n: number): string {
  if (n < 1000) return `${n}B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}
