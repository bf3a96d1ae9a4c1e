/** What every benchmark file needs: timing, medians and deterministic filler content. */

/** Milliseconds an (async) function takes. */
export async function time(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The median (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Deterministic filler text that compresses roughly like source code; `spread` sets how varied the numbers are. */
export function filler(seed: number, bytes: number, spread = 1000): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'const', 'return', 'import', 'export', 'function', 'value', 'index', 'buffer'];
  let s = '';
  let x = seed * 2654435761;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + (x % 7 === 0 ? '\n' : ' ') + (x % spread);
  }
  return s.slice(0, bytes);
}
