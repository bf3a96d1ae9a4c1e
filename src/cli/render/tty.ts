/**
 * BuildKit-style live progress for terminals: a header with the elapsed time and the count of finished
 * steps, one line per step (CACHED / running with a timer / DONE with its time / ERROR), and the last
 * few output lines of running steps. Warnings and info lines are printed above it.
 *
 * Redrawn in place like BuildKit's: the cursor moves up over the previous frame and the frame is drawn
 * again, so no live frame ever enters the scrollback. A live frame is clipped to the terminal's rows
 * (header, then the most recent finished steps that fit, then every running step with its last output
 * lines) and every line to its columns, counted in terminal columns (CJK, emoji). The clock ticks every
 * `intervalMs` while anything runs, even when no event arrives. `close()` draws the final frame in full:
 * `FINISHED`, or `FAILED` when a step failed or the caller says the build failed.
 */
import { decimalSize } from '../../units/bytes.js';
import { clipToWidth, padToWidth } from './width.js';
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
  /** A sub-step shown under the step (vertex.status), e.g. its layer being made. */
  status?: { name: string; started: number; durationMs?: number };
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
    private readonly rows = () => process.stderr.rows || 24,
  ) {}

  private failed = false;

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
      case 'vertex.status': {
        const s = this.steps.get(ev.id);
        if (s) s.status = { name: ev.name, started: ev.at, ...(ev.durationMs !== undefined ? { durationMs: ev.durationMs } : {}) };
        break;
      }
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

  /** Draw the final frame and stop the clock; `failed`: the build failed (the header says so). */
  close(failed = false): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (failed) this.failed = true;
    this.draw(true);
  }

  /** Redraw every intervalMs while the view is live: the clocks of silent steps keep ticking. */
  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.draw(false), this.intervalMs);
    this.timer.unref();
  }

  /** The frame as lines, without colour codes (exposed for tests). */
  frame(final: boolean): string[] {
    const steps = [...this.steps.values()];
    const finished = steps.filter((s) => s.state !== 'running').length;
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
    const width = Math.max(40, this.width() - 1);
    const failed = final && (this.failed || steps.some((s) => s.state === 'failed'));
    const lines = [`[+] Building ${elapsed}s (${finished}/${steps.length})${final ? (failed ? ' FAILED' : ' FINISHED') : ''}`];
    for (const s of steps) lines.push(...this.stepLines(s, width));
    return lines;
  }

  /** One step's lines: the step, its cache-miss reason, and the output tail of a running or failed step. */
  private stepLines(s: Step, width: number): string[] {
    const t = s.state === 'running' ? (Date.now() - s.started) / 1000 : (s.durationMs ?? 0) / 1000;
    const prefix = s.state === 'cached' ? ' => CACHED ' : s.state === 'failed' ? ' => ERROR ' : s.state === 'skipped' ? ' => SKIPPED ' : ' => ';
    const time = (s.bytes && s.state === 'running' ? `${decimalSize(s.bytes.current)} / ${decimalSize(s.bytes.total)} ` : '') + `${t.toFixed(1)}s`;
    const room = Math.max(0, width - prefix.length - time.length - 1);
    const out = [prefix + padToWidth(clipToWidth(s.name, room, true), room) + ' ' + time];
    if (s.miss?.length && s.state !== 'skipped') out.push(clipToWidth(` => => cache miss: ${s.miss.join('; ')}`, width));
    if (s.status) {
      const st = s.status;
      const secs = ((st.durationMs ?? Date.now() - st.started) / 1000).toFixed(1);
      out.push(clipToWidth(` => => ${st.name} ${secs}s${st.durationMs === undefined ? '' : ' done'}`, width));
    }
    if (s.state === 'running' || s.state === 'failed') {
      for (const l of s.logs.slice(-LOG_LINES)) out.push(clipToWidth(' => => # ' + l.replace(/[\r\t]/g, ' '), width));
    }
    return out;
  }

  /**
   * The live frame, at most `rows - 1` lines (one row stays free for the cursor, so the terminal never
   * scrolls): the header, the most recent finished steps that fit, and every running step with its output
   * tail (output lines are dropped before running steps when even those do not fit).
   */
  liveFrame(): string[] {
    const width = Math.max(40, this.width() - 1);
    const max = Math.max(2, this.rows() - 1);
    const full = this.frame(false);
    if (full.length <= max) return full;
    const header = full[0]!;
    const steps = [...this.steps.values()];
    const running = steps.filter((s) => s.state === 'running');
    const runningBlocks = running.map((s) => this.stepLines(s, width));
    let budget = max - 1;
    let runLines = runningBlocks.flat();
    if (runLines.length > budget) {
      // Keep one line per running step, then as many output lines as fit, newest last.
      runLines = runningBlocks.map((b) => b[0]!).slice(-budget);
      const extra = budget - runLines.length;
      if (extra > 0) runLines.push(...runningBlocks.flatMap((b) => b.slice(1)).slice(-extra));
    }
    budget -= runLines.length;
    const doneLines = steps.filter((s) => s.state !== 'running').flatMap((s) => this.stepLines(s, width));
    return [header, ...(budget > 0 ? doneLines.slice(-budget) : []), ...runLines];
  }

  /**
   * Overwrite the previous frame line by line (cursor up, each line followed by erase-to-end-of-line, rows
   * the new frame no longer uses erased), never with erase-below: tmux and some terminals move what an
   * erase-below from the top row clears into the scrollback.
   */
  private draw(final: boolean): void {
    let out = '';
    const previous = this.drawnLines;
    if (previous > 0) out += `\r\x1b[${previous}A`;
    // Notes go above a live frame (they stay in the scrollback); the final frame comes first, then the
    // last notes (what was written, the closing line), as BuildKit prints its summary.
    const notes = this.notes.splice(0);
    if (!final) for (const n of notes) out += n + '\x1b[K\n';
    const lines = (final ? this.frame(true) : this.liveFrame()).map((l) => (l.startsWith(' => ERROR') ? paint(this.palette.error, l) : l.startsWith(' => CACHED') ? paint(this.palette.run, l) : l));
    for (const l of lines) out += l + '\x1b[K\n';
    if (final) for (const n of notes) out += n + '\x1b[K\n';
    const left = previous - notes.length - lines.length;
    if (left > 0) out += '\x1b[K\n'.repeat(left) + `\x1b[${left}A`;
    this.drawnLines = lines.length;
    this.write(out);
  }
}
