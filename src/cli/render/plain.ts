/**
 * BuildKit-style plain progress: one numbered line per step as it starts, its output lines, and
 * `DONE 0.3s` / `CACHED` / `ERROR` when it ends. `color` adds ANSI colour for terminals.
 */
import { decimalSize } from '../../units/bytes.js';
import type { ProgressEvent, ProgressSink } from '../../progress/types.js';

export class PlainRenderer implements ProgressSink {
  private readonly ids = new Map<string, number>();
  private readonly started = new Map<string, number>();
  private readonly lastProgress = new Map<string, number>();
  private next = 1;
  constructor(
    private readonly write: (s: string) => void,
    private readonly color = false,
  ) {}

  private num(id: string): number {
    let n = this.ids.get(id);
    if (n === undefined) {
      n = this.next++;
      this.ids.set(id, n);
    }
    return n;
  }

  private paint(code: string, s: string): string {
    return this.color ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  emit(ev: ProgressEvent): void {
    switch (ev.type) {
      case 'vertex.started':
        this.started.set(ev.id, ev.at);
        this.write(`#${this.num(ev.id)} ${ev.name}\n`);
        for (const r of ev.cacheMiss ?? []) this.write(this.paint('33', `#${this.num(ev.id)} cache miss: ${r}`) + '\n');
        break;
      case 'vertex.cached':
        this.write(`#${this.num(ev.id)} ${ev.name}\n`);
        this.write(this.paint('34', `#${this.num(ev.id)} CACHED`) + '\n');
        break;
      case 'vertex.done':
        this.write(this.paint('32', `#${this.num(ev.id)} DONE ${(ev.durationMs / 1000).toFixed(1)}s`) + '\n');
        break;
      case 'vertex.failed':
        this.write(this.paint('31', `#${this.num(ev.id)} ERROR: ${ev.error}`) + '\n');
        break;
      case 'vertex.skipped':
        this.write(this.paint('2', `#${this.num(ev.id)} ${ev.name} SKIPPED (${ev.reason})`) + '\n');
        break;
      case 'vertex.status':
        this.write(`#${this.num(ev.id)} ${ev.name}${ev.durationMs === undefined ? '' : ` ${(ev.durationMs / 1000).toFixed(1)}s done`}\n`);
        break;
      case 'vertex.progress': {
        // At most one line a second per transfer, and the last one.
        const now = Date.now();
        const last = this.lastProgress.get(ev.id) ?? 0;
        if (ev.current < ev.total && now - last < 1000) break;
        this.lastProgress.set(ev.id, now);
        this.write(`#${this.num(ev.id)} ${decimalSize(ev.current)} / ${decimalSize(ev.total)}\n`);
        break;
      }
      case 'vertex.log': {
        const n = this.num(ev.id);
        const t = this.started.has(ev.id) ? ((Date.now() - this.started.get(ev.id)!) / 1000).toFixed(3) : '0.000';
        const lines = ev.data.replace(/\n$/, '').split('\n');
        for (const l of lines) this.write(this.paint('2', `#${n} ${t} ${l}`) + '\n');
        break;
      }
      case 'warning':
        this.write(this.paint('33', `WARNING: ${ev.file ? `${ev.file}${ev.line ? `:${ev.line}` : ''}: ` : ''}${ev.message}`) + '\n');
        break;
      case 'info':
        this.write(`${ev.message}\n`);
        break;
    }
  }
}

/** Collects events; used for --progress quiet (prints nothing) and for tests. */
export class QuietRenderer implements ProgressSink {
  emit(): void {}
}
