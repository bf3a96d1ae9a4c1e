/** Go duration strings (`1m30s`, `500ms`, `2h`) ↔ nanoseconds, for HEALTHCHECK. */
const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds, or null when `text` is not a Go duration. */
export function parseGoDuration(text: string): number | null {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return null;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/; // µs (micro sign), μs (Greek mu): escaped, the bundle is ASCII (scripts/bundle.mjs)
  let total = 0;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m) return null;
    total += Number.parseFloat(m[1]!) * UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** Go's time.Duration.String() for a non-negative integer of nanoseconds. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trimFrac(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trimFrac(ns / 1e6)}ms`;
  let out = '';
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const sec = (ns % 60e9) / 1e9;
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  return out + `${trimFrac(sec)}s`;
}

function trimFrac(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(9).replace(/0+$/, '');
}
