/**
 * Docker's variable expansion for Dockerfile words (the rules of BuildKit's shell lexer):
 * - `'...'` keeps everything literally; `"..."` expands `$` and lets the escape character escape `"` `$`
 *   and itself; outside quotes the escape character makes the next character literal and is dropped
 *   (a trailing one is ignored).
 * - `$name`, `${name}`, `${name:-w}`, `${name-w}`, `${name:+w}`, `${name+w}`, `${name:?msg}`, `${name?msg}`,
 *   `${name#p}`, `${name##p}`, `${name%p}`, `${name%%p}`, `${name/p/r}`, `${name//p/r}`.
 *   Names are letters, digits and `_`; a leading digit run (`$1`, `$001`) or one special character
 *   (`@ * # ? - $ ! 0`) is a name of its own. Unset variables expand to "" (unless skipUnsetEnv).
 * processWord returns one string (no splitting); processWords splits into words after expansion,
 * where spaces from quotes and escapes are kept and spaces from expanded variables split words.
 */
import { PatternError, replacePattern, trimPrefix, trimSuffix } from './pattern.js';

export class ShellExpansionError extends Error {}

/** A variable lookup: `undefined` means unset ("" is set but empty). */
export type EnvLookup = (name: string) => string | undefined;

export interface LexOptions {
  /** The escape character: `\` (default) or `` ` `` after `# escape=`. */
  escapeToken?: string;
  /** Keep quote characters in the output (used to find heredoc words). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
}

/** Build a lookup from `KEY=VALUE` strings (later entries win) or a record. */
export function envLookup(env: readonly string[] | Record<string, string>): EnvLookup {
  const map = new Map<string, string>();
  if (Array.isArray(env)) {
    for (const kv of env as readonly string[]) {
      const i = kv.indexOf('=');
      if (i < 0) map.set(kv, '');
      else map.set(kv.slice(0, i), kv.slice(i + 1));
    }
  } else {
    for (const [k, v] of Object.entries(env)) map.set(k, v);
  }
  return (name) => map.get(name);
}

const EOF = '';
const isSpace = (ch: string): boolean => /^\p{White_Space}$/u.test(ch);
const isLetter = (ch: string): boolean => /^\p{L}$/u.test(ch);
const isDigit = (ch: string): boolean => /^\p{Nd}$/u.test(ch);
const isSpecialParam = (ch: string): boolean => '@*#?-$!0'.includes(ch) && ch.length === 1;

class Words {
  private buf = '';
  private words: string[] = [];
  private inWord = false;
  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

class Scanner {
  private pos = 0;
  constructor(private readonly chars: string[]) {}
  peek(): string {
    return this.chars[this.pos] ?? EOF;
  }
  next(): string {
    const ch = this.chars[this.pos] ?? EOF;
    if (ch !== EOF) this.pos++;
    return ch;
  }
}

class ShellWord {
  private readonly sc: Scanner;
  private rawEscapes: boolean;
  constructor(
    text: string,
    private readonly env: EnvLookup,
    private readonly opts: Required<LexOptions>,
  ) {
    this.sc = new Scanner(Array.from(text));
    this.rawEscapes = opts.rawEscapes;
  }

  process(): { word: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  private processStopOn(stop: string, rawEscapes: boolean): { word: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      const esc = this.opts.escapeToken;
      while (this.sc.peek() !== EOF) {
        const ch = this.sc.peek();
        if (stop !== EOF && ch === stop) {
          this.sc.next();
          return { word: result, words: words.get() };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
        } else if (ch === "'" || ch === '"') {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          let c = this.sc.next();
          if (c === esc) {
            if (this.rawEscapes) {
              words.addRawChar(c);
              result += c;
            }
            c = this.sc.next();
            if (c === EOF) break;
            words.addRawChar(c);
          } else {
            words.addChar(c);
          }
          result += c;
        }
      }
      if (stop !== EOF) {
        throw new ShellExpansionError(`unexpected end of statement while looking for matching ${stop}`);
      }
      return { word: result, words: words.get() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    let ch = this.sc.next();
    if (this.opts.rawQuotes) result += ch;
    for (;;) {
      ch = this.sc.next();
      if (ch === EOF) throw new ShellExpansionError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.sc.next();
    if (this.opts.rawQuotes) result += open;
    const esc = this.opts.escapeToken;
    for (;;) {
      const p = this.sc.peek();
      if (p === EOF) throw new ShellExpansionError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        const c = this.sc.next();
        if (this.opts.rawQuotes) result += c;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let c = this.sc.next();
      if (c === esc) {
        if (this.rawEscapes) result += c;
        const n = this.sc.peek();
        if (n === EOF) continue;
        if (n === '"' || n === '$' || n === esc) c = this.sc.next();
      }
      result += c;
    }
  }

  private processName(): string {
    let name = '';
    while (this.sc.peek() !== EOF) {
      const ch = this.sc.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.sc.peek() !== EOF && isDigit(this.sc.peek())) name += this.sc.next();
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return this.sc.next();
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.sc.next();
    }
    return name;
  }

  private missingBrace(err: unknown): never {
    if (this.sc.peek() === EOF) throw new ShellExpansionError("syntax error: missing '}'");
    throw err;
  }

  private processDollar(): string {
    this.sc.next();
    if (this.sc.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const v = this.env(name);
      if (v === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return v ?? '';
    }
    this.sc.next();
    const first = this.sc.peek();
    if (first === EOF) throw new ShellExpansionError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ShellExpansionError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.sc.next();
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const v = this.env(name);
      if (v === undefined && this.opts.skipUnsetEnv) return '${' + name + '}';
      return v ?? '';
    }
    if (ch === '/') return this.processReplace(name);
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.sc.next();
      chs += ch;
    } else if (!'+-?#%'.includes(ch) || ch === EOF) {
      throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
    }
    const isPattern = ch === '#' || ch === '%';
    if (nullIsUnset && isPattern) throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn('}', isPattern).word;
    } catch (err) {
      this.missingBrace(err);
    }
    const value = this.env(name);
    const set = value !== undefined;
    if (this.opts.skipUnsetEnv && !set) return '${' + name + chs + word + '}';
    const empty = !set || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : value!;
      case '+':
        return empty ? '' : word;
      case '?':
        if (!set) throw new ShellExpansionError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new ShellExpansionError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        let greedy = false;
        if (word.startsWith(ch)) {
          greedy = true;
          word = word.slice(1);
        }
        try {
          return ch === '%' ? trimSuffix(word, value ?? '', greedy) : trimPrefix(word, value ?? '', greedy);
        } catch (err) {
          throw new ShellExpansionError(`invalid pattern (${word}) in substitution: ${(err as PatternError).message}`);
        }
      }
      default:
        throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.sc.peek() === '/';
    if (all) this.sc.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).word;
    } catch (err) {
      if (this.sc.peek() === EOF) throw new ShellExpansionError("syntax error: missing '/' in ${}");
      throw err;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn('}', true).word;
    } catch (err) {
      this.missingBrace(err);
    }
    const value = this.env(name);
    if (this.opts.skipUnsetEnv && value === undefined) return '${' + name + '/' + pattern + '/' + replacement + '}';
    try {
      return replacePattern(pattern, value ?? '', replacement, all);
    } catch (err) {
      throw new ShellExpansionError(`invalid pattern (${pattern}) in substitution: ${(err as PatternError).message}`);
    }
  }
}

/** A configured expander; cheap to create. */
export class ShellLex {
  private readonly opts: Required<LexOptions>;
  constructor(opts: LexOptions = {}) {
    this.opts = {
      escapeToken: opts.escapeToken ?? '\\',
      rawQuotes: opts.rawQuotes ?? false,
      rawEscapes: opts.rawEscapes ?? false,
      skipUnsetEnv: opts.skipUnsetEnv ?? false,
    };
  }

  /** Expand `text` as one word (quotes removed, no splitting). Throws ShellExpansionError. */
  processWord(text: string, env: EnvLookup): string {
    return this.run(text, env).word;
  }

  /** Expand `text`, then split it into words, respecting quotes. Throws ShellExpansionError. */
  processWords(text: string, env: EnvLookup): string[] {
    return this.run(text, env).words;
  }

  private run(text: string, env: EnvLookup): { word: string; words: string[] } {
    try {
      return new ShellWord(text, env, this.opts).process();
    } catch (err) {
      if (err instanceof ShellExpansionError) {
        throw new ShellExpansionError(`failed to process ${JSON.stringify(text)}: ${err.message}`);
      }
      throw err;
    }
  }
}
