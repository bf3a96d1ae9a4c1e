/**
 * Widths in terminal columns: East Asian wide and fullwidth characters and emoji take two columns,
 * combining marks, variation selectors and zero-width joiners none (as wcwidth). Used to pad and clip
 * the tty view so that no line wraps (a wrapped line would break redrawing in place).
 */

function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe20 && cp <= 0xfe2f) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
    cp === 0x200b || cp === 0x200c || cp === 0x200d || cp === 0x2060 || (cp >= 0xe0100 && cp <= 0xe01ef) || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)
  );
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x231a && cp <= 0x231b) || (cp >= 0x2329 && cp <= 0x232a) ||
    (cp >= 0x23e9 && cp <= 0x23ec) || cp === 0x23f0 || cp === 0x23f3 || (cp >= 0x25fd && cp <= 0x25fe) ||
    (cp >= 0x2614 && cp <= 0x2615) || (cp >= 0x2648 && cp <= 0x2653) || cp === 0x267f || cp === 0x2693 ||
    cp === 0x26a1 || (cp >= 0x26aa && cp <= 0x26ab) || (cp >= 0x26bd && cp <= 0x26be) || (cp >= 0x26c4 && cp <= 0x26c5) ||
    cp === 0x26ce || cp === 0x26d4 || cp === 0x26ea || (cp >= 0x26f2 && cp <= 0x26f3) || cp === 0x26f5 || cp === 0x26fa ||
    cp === 0x26fd || cp === 0x2705 || (cp >= 0x270a && cp <= 0x270b) || cp === 0x2728 || cp === 0x274c || cp === 0x274e ||
    (cp >= 0x2753 && cp <= 0x2755) || cp === 0x2757 || (cp >= 0x2795 && cp <= 0x2797) || cp === 0x27b0 || cp === 0x27bf ||
    (cp >= 0x2b1b && cp <= 0x2b1c) || cp === 0x2b50 || cp === 0x2b55 ||
    (cp >= 0x2e80 && cp <= 0x303e) || (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) || (cp >= 0xa960 && cp <= 0xa97f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe10 && cp <= 0xfe19) ||
    (cp >= 0xfe30 && cp <= 0xfe6f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f680 && cp <= 0x1f6ff) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x1fa70 && cp <= 0x1faff) || (cp >= 0x1f1e6 && cp <= 0x1f1ff) || (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

export function charWidth(cp: number): number {
  return isZeroWidth(cp) ? 0 : isWide(cp) ? 2 : 1;
}

/** Columns `s` takes on a terminal (no escape sequences expected). */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** `s` cut to at most `cols` columns; `…` marks a cut when `ellipsis`. A wide character never straddles the edge. */
export function clipToWidth(s: string, cols: number, ellipsis = false): string {
  if (displayWidth(s) <= cols) return s;
  const room = ellipsis ? cols - 1 : cols;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > room) break;
    out += ch;
    w += cw;
  }
  return ellipsis && cols > 0 ? out + '…' : out;
}

/** `s` padded with spaces to `cols` columns. */
export function padToWidth(s: string, cols: number): string {
  return s + ' '.repeat(Math.max(0, cols - displayWidth(s)));
}
