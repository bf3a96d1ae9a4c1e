import type { ProgressSink } from '../../progress/types.js';
import type { ProgressMode } from '../args.js';
import { PlainRenderer, QuietRenderer } from './plain.js';

/** Pick a renderer: `auto` means tty (colour) when stderr is a terminal, plain otherwise. */
export function selectRenderer(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const write = (s: string) => {
    stream.write(s);
  };
  if (mode === 'quiet') return new QuietRenderer();
  const tty = mode === 'tty' || (mode === 'auto' && stream.isTTY === true && !process.env.NO_COLOR);
  return new PlainRenderer(write, tty);
}
