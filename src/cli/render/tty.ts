/**
 * BuildKit-style live progress for terminals: a header with the elapsed time and the count of finished
 * steps, one line per step (CACHED / running with a timer / DONE with its time / ERROR), and the last
 * few output lines of running steps. The frame is redrawn in place at most every `intervalMs`; `close()`
 * draws the final frame. Warnings and info lines are printed above it.
 */
import { decimalSize } from '../../units/bytes.js';
import type { ProgressEvent, ProgressSink } from '../../progress/types.js';
import { paint, paletteFromEnv, type Palette } from './colors.js';

interface Step {
  name: string;
  state: 'running' | 'cached' | 'done' | 'failed' | 'skipped';
  started: number;
  durationMs?: number;
  logs: string[];
  /** Bytes moved so far by a transfer step. */
  bytes?: { current: number; total: number };
  /** Why the cache missed (first reason shown under the step). */
  miss?: string[];
}

const LOG_LINES = 6;

export class TtyRenderer implements ProgressSink {
  private readonly steps = new Map<string, Step>();
  private readonly started = Date.now();
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly notes: string[] = [];

  constructor(
    private readonly write: (s: string) => void,
    private readonly width = () => process.stderr.columns || 100,
    private readonly intervalMs = 100,
    private readonly palette: Palette = paletteFromEnv(),
  ) {}

  emit(ev: ProgressEvent): void {
    const now = Date.now();
    switch (ev.type) {
      case 'vertex.started':
        this.steps.set(ev.id, { name: ev.name, state: 'running', started: ev.at, logs: [], ...(ev.cacheMiss ? { miss: ev.cacheMiss } : {}) });
        break;
      case 'vertex.cached':
        this.steps.set(ev.id, { name: ev.name, state: 'cached', started: ev.at, durationMs: 0, logs: [] });
        break;
      case 'vertex.done': {
        const s = this.steps.get(ev.id) ?? { name: ev.name, state: 'done' as const, started: now, logs: [] };
        Object.assign(s, { state: 'done', durationMs: ev.durationMs });
        this.steps.set(ev.id, s);
        break;
      }
      case 'vertex.failed': {
        const s = this.steps.get(ev.id) ?? { name: ev.name, state: 'failed' as const, started: now, logs: [] };
        Object.assign(s, { state: 'failed', durationMs: now - s.started });
        this.steps.set(ev.id, s);
        break;
      }
      case 'vertex.skipped':
        this.steps.set(ev.id, { name: ev.name, state: 'skipped', started: now, durationMs: 0, logs: [] });
        break;
      case 'vertex.progress': {
        const s = this.steps.get(ev.id);
        if (s) s.bytes = { current: ev.current, total: ev.total };
        break;
      }
      case 'vertex.log': {
        const s = this.steps.get(ev.id);
        if (s) s.logs.push(...ev.data.replace(/\n$/, '').split('\n'));
        if (s && s.logs.length > 200) s.logs.splice(0, s.logs.length - LOG_LINES);
        break;
      }
      case 'warning':
        this.notes.push(paint(this.palette.warning, `WARNING: ${ev.file ? `${ev.file}${ev.line ? `:${ev.line}` : ''}: ` : ''}${ev.message}`));
        break;
      case 'info':
        this.notes.push(ev.message);
        break;
    }
    this.schedule();
  }

  /** Draw the final frame and stop the timer. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.draw(true);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw(false);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** The frame as lines, without colour codes (exposed for tests). */
  frame(final: boolean): string[] {
    const steps = [...this.steps.values()];
    const finished = steps.filter((s) => s.state !== 'running').length;
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
    const width = Math.max(40, this.width());
    const lines = [`[+] Building ${elapsed}s (${finished}/${steps.length})${final ? ' FINISHED' : ''}`];
    for (const s of steps) {
      const t = s.state === 'running' ? (Date.now() - s.started) / 1000 : (s.durationMs ?? 0) / 1000;
      const prefix = s.state === 'cached' ? ' => CACHED ' : s.state === 'failed' ? ' => ERROR ' : s.state === 'skipped' ? ' => SKIPPED ' : ' => ';
      const time = (s.bytes && s.state === 'running' ? `${decimalSize(s.bytes.current)} / ${decimalSize(s.bytes.total)} ` : '') + `${t.toFixed(1)}s`;
      const room = width - prefix.length - time.length - 1;
      const name = s.name.length > room ? s.name.slice(0, Math.max(0, room - 1)) + '…' : s.name;
      lines.push(prefix + name.padEnd(room) + ' ' + time);
      if (s.miss?.length && s.state !== 'skipped') lines.push((` => => cache miss: ${s.miss.join('; ')}`).slice(0, width));
      if (s.state === 'running' || s.state === 'failed') {
        for (const l of s.logs.slice(-LOG_LINES)) lines.push((' => => # ' + l).slice(0, width));
      }
    }
    return lines;
  }

  private draw(final: boolean): void {
    let out = '';
    if (this.drawnLines > 0) out += `\x1b[${this.drawnLines}F\x1b[J`; // up to the frame's first line, clear below
    for (const n of this.notes.splice(0)) out += n + '\n';
    const lines = this.frame(final).map((l) => (l.startsWith(' => ERROR') ? paint(this.palette.error, l) : l.startsWith(' => CACHED') ? paint(this.palette.run, l) : l));
    out += lines.join('\n') + '\n';
    this.drawnLines = lines.length;
    this.write(out);
  }
}
