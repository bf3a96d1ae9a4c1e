/**
 * Shell patterns of `${v#p}` `${v##p}` `${v%p}` `${v%%p}` `${v/p/r}` `${v//p/r}` (Docker's subset):
 * `*` any string, `?` one character, `\` escapes `*` `?` `\` (and is dropped before `}` and `/`).
 * No bracket expressions. Matching follows a leftmost-first regular expression, like BuildKit.
 */
export class PatternError extends Error {}

function toRegexSource(pattern: string, greedy: boolean, anchored: boolean): string {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '.*' : '.*?';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      out += star;
    } else if (ch === '?') {
      out += '.';
    } else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new PatternError(`invalid escape '\\${next ?? ''}'`);
      }
      out += '\\' + next;
      i++;
    } else if ('[]{}.+()|^$/'.includes(ch)) {
      out += '\\' + ch;
    } else {
      out += ch;
    }
  }
  return out;
}

export function compilePattern(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  return new RegExp(toRegexSource(pattern, greedy, anchored), 'u');
}

/** `${v#p}` (greedy=false) and `${v##p}` (greedy=true). */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compilePattern(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverse a pattern keeping `\x` escapes in front of the character they escape. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i]!;
    const o = last - i;
    if (ch === '\\' && i !== last) {
      out[o - 1] = ch;
      out[o] = chars[i + 1]!;
      i += 2;
    } else {
      out[o] = ch;
      i++;
    }
  }
  return out.join('');
}

const reverse = (s: string): string => Array.from(s).reverse().join('');

/** `${v%p}` (greedy=false) and `${v%%p}` (greedy=true). */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

/** `${v/p/r}` (all=false) and `${v//p/r}` (all=true); the replacement is literal. */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const re = compilePattern(pattern, true, false);
  if (all) {
    const g = new RegExp(re.source, 'gu');
    return value.replace(g, () => replacement);
  }
  const m = re.exec(value);
  if (!m) return value;
  return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
}
