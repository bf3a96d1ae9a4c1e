/**
 * The tty view's colours, as BuildKit's progressui chooses them: finished steps in `run` (blue), failed in
 * `error` (red), cancelled in `cancel` (yellow), warnings in `warning` (yellow). `NO_COLOR` (any value)
 * turns colour off; `BUILDKIT_COLORS=run=green:error=yellow:warning=255,0,255` overrides names or RGB.
 */

/** ANSI SGR parameters per role ('' = no colour). */
export interface Palette {
  run: string;
  error: string;
  cancel: string;
  warning: string;
}

const NAMED: Record<string, string> = {
  default: '39', black: '30', red: '31', green: '32', yellow: '33', blue: '34', magenta: '35', cyan: '36', white: '37',
};

export const DEFAULT_PALETTE: Palette = { run: '34', error: '31', cancel: '33', warning: '33' };
const NONE: Palette = { run: '', error: '', cancel: '', warning: '' };

export function paletteFromEnv(env: NodeJS.ProcessEnv = process.env): Palette {
  if (env.NO_COLOR !== undefined) return NONE;
  const out = { ...DEFAULT_PALETTE };
  for (const part of (env.BUILDKIT_COLORS ?? '').split(':')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const role = part.slice(0, eq).trim() as keyof Palette;
    if (!(role in out)) continue; // BuildKit ignores what it does not know, so do we: a diagnostic never fails a build
    const value = part.slice(eq + 1).trim().toLowerCase();
    const rgb = /^(\d{1,3}),(\d{1,3}),(\d{1,3})$/.exec(value);
    if (rgb && rgb.slice(1).every((n) => Number(n) <= 255)) out[role] = `38;2;${rgb[1]};${rgb[2]};${rgb[3]}`;
    else if (NAMED[value]) out[role] = NAMED[value]!;
  }
  return out;
}

export function paint(code: string, s: string): string {
  return code === '' ? s : `\x1b[${code}m${s}\x1b[0m`;
}
