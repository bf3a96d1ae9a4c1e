import { Diagnostics, stderrWarn } from '../../diagnostics.js';
import type { ProgressSink } from '../../progress/types.js';
import type { ProgressMode } from '../args.js';
import { PlainRenderer, QuietRenderer } from './plain.js';
import { TtyRenderer } from './tty.js';
import { RawJsonRenderer } from './rawjson.js';

export interface Renderer extends ProgressSink {
  /** Flush the last frame (live renderers; `failed`: the build failed); a no-op for line renderers. */
  close(failed?: boolean): void;
}

/**
 * Pick a renderer: `auto` means the live tty view when stderr is a terminal, plain lines otherwise.
 * Rendering is a diagnostic: a renderer that throws is reported once on stderr and never fails the command.
 */
export function selectRenderer(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Renderer {
  return bestEffort(pickRenderer(mode, stream));
}

function bestEffort(r: Renderer): Renderer {
  const d = new Diagnostics(stderrWarn);
  return {
    emit: (e) => d.bestEffortSync('progress rendering', () => r.emit(e)),
    close: (failed?: boolean) => d.bestEffortSync('progress rendering', () => r.close(failed)),
  };
}

function pickRenderer(mode: ProgressMode, stream: NodeJS.WriteStream): Renderer {
  const write = (s: string) => {
    stream.write(s);
  };
  if (mode === 'quiet' || mode === 'none') return withClose(new QuietRenderer());
  if (mode === 'rawjson') return withClose(new RawJsonRenderer(write));
  const tty = mode === 'tty' || (mode === 'auto' && stream.isTTY === true);
  if (tty) return new TtyRenderer(write, () => stream.columns || 100, 100, undefined, () => stream.rows || 24);
  return withClose(new PlainRenderer(write, false));
}

function withClose(sink: ProgressSink): Renderer {
  return Object.assign(sink, { close() {} });
}
