/** Small text helpers with Go's definitions of white space (unicode.IsSpace) and quoting (strconv.Quote). */

const SPACE = /\p{White_Space}/u;

export function isSpace(ch: string): boolean {
  if (ch.length === 0) return false;
  const c = ch.charCodeAt(0);
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d); // ASCII's White_Space, without a regex test
  return SPACE.test(ch);
}

export function trimLeftSpace(s: string): string {
  return s.replace(/^\p{White_Space}+/u, '');
}

export function trimSpace(s: string): string {
  return s.replace(/^\p{White_Space}+/u, '').replace(/\p{White_Space}+$/u, '');
}

/** Dockerfile word separators outside quotes: `[\t\v\f\r ]+`. */
export const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** Split on the first run of `[\t\v\f\r ]`, like Go's regexp.Split(s, 2). */
export function splitOnce(s: string): [string] | [string, string] {
  const m = WHITESPACE_RUN.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SIMPLE_ESCAPES: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"',
};

/** Go's strconv.Quote for a (valid UTF-16) string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = SIMPLE_ESCAPES[ch];
    if (esc !== undefined) {
      out += esc;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) {
      out += '\\x' + cp.toString(16).padStart(2, '0');
    } else if (cp < 0x7f || PRINTABLE.test(ch)) {
      out += ch;
    } else if (cp <= 0xffff) {
      out += '\\u' + cp.toString(16).padStart(4, '0');
    } else {
      out += '\\U' + cp.toString(16).padStart(8, '0');
    }
  }
  return out + '"';
}

/** Go's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return '[' + list.map(goQuote).join(' ') + ']';
}

/**
 * 1-based column for an error on `lineText`: where `needle` starts (when given and found), else the
 * first non-blank character (the instruction's keyword).
 */
export function errorColumn(lineText: string, needle?: string): number {
  if (needle) {
    const i = lineText.indexOf(needle);
    if (i >= 0) return i + 1;
  }
  const m = /\S/.exec(lineText);
  return m ? m.index + 1 : 1;
}
