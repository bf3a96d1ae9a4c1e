/**
 * Go `filepath.Match` pattern syntax (Unix): `*` (any run of non-`/` characters), `?` (one non-`/`
 * character), `[...]` / `[^...]` classes with ranges, and `\` escaping the next character. No braces,
 * no extglobs. Used for COPY source wildcards, and (with `**` added) by the .dockerignore matcher.
 *
 * Parsing validates the whole pattern the way Go does (a trailing `\`, an unclosed or empty class, a
 * `-` or `]` where a class character is expected are all errors).
 */

export type GlobToken =
  | { t: 'lit'; c: string }
  | { t: 'star' }
  | { t: 'any' }
  | { t: 'class'; neg: boolean; ranges: Array<[number, number]> };

export class GlobSyntaxError extends Error {
  constructor(pattern: string, why: string) {
    super(`bad pattern ${JSON.stringify(pattern)}: ${why}`);
  }
}

/** True when `s` contains a character that makes it a pattern rather than a literal path. */
export function hasWildcard(s: string): boolean {
  return /[*?[\\]/.test(s);
}

/**
 * Tokenize `pattern`. `rejectReversedRanges`: also reject ranges like `[z-a]` (Go's filepath.Match accepts
 * them and matches nothing; the .dockerignore matcher fails on them when compiling its regexp).
 */
export function parseGlob(pattern: string, opts: { rejectReversedRanges?: boolean } = {}): GlobToken[] {
  const chars = Array.from(pattern); // code points, like Go runes
  const out: GlobToken[] = [];
  let i = 0;
  const bad = (why: string): never => {
    throw new GlobSyntaxError(pattern, why);
  };
  /** One class character: `-` and `]` are not allowed unescaped; `\x` is x. */
  const classChar = (): number => {
    if (i >= chars.length) bad('unterminated character class');
    let c = chars[i]!;
    if (c === '-' || c === ']') bad(`unexpected ${JSON.stringify(c)} in character class`);
    if (c === '\\') {
      i++;
      if (i >= chars.length) bad('trailing backslash in character class');
      c = chars[i]!;
    }
    i++;
    return c.codePointAt(0)!;
  };
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '*') {
      out.push({ t: 'star' });
      i++;
    } else if (c === '?') {
      out.push({ t: 'any' });
      i++;
    } else if (c === '\\') {
      if (i + 1 >= chars.length) bad('trailing backslash');
      out.push({ t: 'lit', c: chars[i + 1]! });
      i += 2;
    } else if (c === '[') {
      i++;
      let neg = false;
      if (chars[i] === '^') {
        neg = true;
        i++;
      }
      const ranges: Array<[number, number]> = [];
      for (;;) {
        if (i < chars.length && chars[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const lo = classChar();
        let hi = lo;
        if (chars[i] === '-') {
          i++;
          hi = classChar();
        }
        if (hi < lo && opts.rejectReversedRanges) bad(`reversed range in character class`);
        ranges.push([lo, hi]);
      }
      out.push({ t: 'class', neg, ranges });
    } else {
      out.push({ t: 'lit', c });
      i++;
    }
  }
  return out;
}

export function escapeRegExpChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** Regexp source for a class token. `slashInNegated`: may a negated class match `/`? */
export function classToRegExp(tok: { neg: boolean; ranges: Array<[number, number]> }, slashInNegated: boolean): string {
  const hex = (n: number): string => `\\u{${n.toString(16)}}`;
  const body = tok.ranges
    .filter(([lo, hi]) => lo <= hi)
    .map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`))
    .join('');
  if (tok.neg) return `[^${body}${slashInNegated ? '' : '\\/'}]`;
  return body === '' ? '(?!)' : `[${body}]`;
}

/** Regexp source (no anchors) for Go filepath.Match semantics: nothing matches `/` except a literal `/`. */
export function globToRegExpSource(tokens: GlobToken[]): string {
  let s = '';
  for (const tok of tokens) {
    if (tok.t === 'lit') s += escapeRegExpChar(tok.c);
    else if (tok.t === 'star') s += '[^/]*';
    else if (tok.t === 'any') s += '[^/]';
    else s += classToRegExp(tok, false);
  }
  return s;
}

/** A compiled filepath.Match pattern. Throws GlobSyntaxError for a malformed pattern. */
export function compileGlob(pattern: string): RegExp {
  return new RegExp(`^${globToRegExpSource(parseGlob(pattern))}$`, 'su');
}

/** Unescape a pattern segment that has no wildcard (e.g. `a\b` → `ab`), for literal lookups. */
export function unescapeGlob(segment: string): string {
  return segment.replace(/\\(.)/gsu, '$1');
}
