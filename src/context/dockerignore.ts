/**
 * Docker's .dockerignore semantics (moby/patternmatcher + ignorefile), which are NOT gitignore's:
 * - patterns are anchored at the context root (`*.log` matches only `x.log` at the root, `**` spans dirs);
 * - a pattern also matches every path below a matching directory (`docs` excludes `docs/a/b`);
 * - the last matching pattern decides; `!pattern` re-includes (also whole directories: `!dir`);
 * - `*`, `?`, `[...]` never match `/`; `\` escapes; `**` matches any number of directories (even none).
 *
 * Words: a "relPath" is a slash path relative to the context root, without a leading `/` or `./`.
 */
import { ContextError } from '../errors.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';
import { classToRegExp, escapeRegExpChar, GlobSyntaxError, parseGlob, type GlobToken } from './goglob.js';

/**
 * The patterns of a .dockerignore file (ignorefile.ReadAll): strip a BOM, skip lines starting with `#`
 * in column 0, trim, drop empty lines, handle a leading `!` (trimmed again), clean the path and drop one
 * leading `/`. A lone `!` survives here and is rejected by DockerIgnoreMatcher.
 */
export function parseDockerignore(text: string): string[] {
  return parseWithLines(text).map((p) => p.pattern);
}

/**
 * Read a .dockerignore file and check every pattern now, so that a bad one is reported at its own
 * line (`file:line`, with the line) rather than at the first COPY that uses the matcher.
 */
export function readDockerignore(text: string, file: string): string[] {
  const parsed = parseWithLines(text);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const { pattern, line } of parsed) {
    try {
      new DockerIgnoreMatcher([pattern]);
    } catch (err) {
      if (!(err instanceof ContextError)) throw err;
      throw new ContextError(err.code, err.message.replace(/^\.dockerignore: /, ''), {
        cause: err,
        location: { file, line, lineText: lines[line - 1] ?? '' },
        ...(err.hint !== undefined ? { hint: err.hint } : {}),
      });
    }
  }
  return parsed.map((p) => p.pattern);
}

function parseWithLines(text: string): { pattern: string; line: number }[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: { pattern: string; line: number }[] = [];
  let line = 0;
  for (const raw of text.split(/\r?\n/)) {
    line++;
    if (raw.startsWith('#')) continue;
    let p = raw.trim();
    if (p === '') continue;
    const invert = p.startsWith('!');
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanSlashPath(p);
      if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    }
    out.push({ pattern: invert ? `!${p}` : p, line });
  }
  return out;
}

interface CompiledPattern {
  /** The pattern as given (after trim), for messages. */
  text: string;
  /** Cleaned pattern without the `!`. */
  cleaned: string;
  exclusion: boolean;
  re: RegExp;
}

/**
 * Per-pattern "matches this path or one of its ancestors" flags of a directory, so that children can be
 * checked without re-testing every ancestor (what a walk should pass down).
 */
export type MatchState = readonly boolean[];

function badPattern(pattern: string, why: string): ContextError {
  return new ContextError('BAD_DOCKERIGNORE_PATTERN', `.dockerignore: bad pattern ${JSON.stringify(pattern)}: ${why}`, {
    hint: 'fix or remove this line of .dockerignore (patterns use Go filepath.Match syntax plus **)',
  });
}

/** Compile one cleaned pattern (without `!`) to an anchored regexp, with `**` spanning directories. */
function compile(pattern: string, text: string): RegExp {
  let tokens: GlobToken[];
  try {
    tokens = parseGlob(pattern, { rejectReversedRanges: true });
  } catch (err) {
    if (err instanceof GlobSyntaxError) throw badPattern(text, err.message.replace(/^bad pattern "[^]*?": /, ''));
    throw err;
  }
  let s = '';
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.t === 'star') {
      if (tokens[i + 1]?.t === 'star') {
        i++;
        const next = tokens[i + 1];
        if (next?.t === 'lit' && next.c === '/') i++;
        s += i + 1 >= tokens.length ? '.*' : '(?:.*/)?';
      } else {
        s += '[^/]*';
      }
    } else if (tok.t === 'any') s += '[^/]';
    else if (tok.t === 'lit') s += escapeRegExpChar(tok.c);
    else s += classToRegExp(tok, true);
  }
  return new RegExp(`^${s}$`, 'su');
}

const PATTERN_CHARS = /[*[\]?^\\]/;

export class DockerIgnoreMatcher {
  private readonly patterns: CompiledPattern[] = [];
  private readonly hasExclusions: boolean;
  private readonly onlyPrefixExclusions: boolean;

  /** `patterns`: lines as returned by parseDockerignore (each is trimmed and cleaned again here). */
  constructor(patterns: string[]) {
    for (const given of patterns) {
      let p = given.trim();
      if (p === '') continue;
      p = cleanSlashPath(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw badPattern(given, 'a lone "!" is not a pattern');
        exclusion = true;
        p = p.slice(1);
      }
      this.patterns.push({ text: given.trim(), cleaned: p, exclusion, re: compile(p, given.trim()) });
    }
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
    this.onlyPrefixExclusions = this.patterns.every((p) => !p.exclusion || !PATTERN_CHARS.test(withoutTrailingGlob(p.cleaned)));
  }

  /** No patterns: nothing is excluded. */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** The patterns as given (after trimming), in order. */
  get patternTexts(): string[] {
    return this.patterns.map((p) => (p.exclusion ? `!${p.cleaned}` : p.cleaned));
  }

  excluded(relPath: string): boolean {
    return this.explain(relPath).excluded;
  }

  /** Whether `relPath` is excluded and, if so, by which pattern (the last one that matched). */
  explain(relPath: string): { excluded: boolean; pattern?: string } {
    const rel = normalizeRel(relPath);
    if (rel === '.' || this.patterns.length === 0) return { excluded: false };
    const slash = rel.lastIndexOf('/');
    const parentState = slash < 0 ? undefined : this.stateOf(rel.slice(0, slash));
    return this.check(rel, parentState).result;
  }

  /**
   * Check `relPath` given the state of its parent directory (undefined for a top-level entry); returns the
   * result and this path's own state, to pass to its children. Equivalent to explain(), but O(patterns).
   */
  check(relPath: string, parent: MatchState | undefined): { result: { excluded: boolean; pattern?: string }; state: MatchState } {
    const state: boolean[] = new Array(this.patterns.length);
    let excluded = false;
    let decider: CompiledPattern | undefined;
    for (let i = 0; i < this.patterns.length; i++) {
      const p = this.patterns[i]!;
      const m = (parent?.[i] ?? false) || p.re.test(relPath);
      state[i] = m;
      if (m) {
        excluded = !p.exclusion;
        decider = p;
      }
    }
    const result: { excluded: boolean; pattern?: string } = { excluded };
    if (excluded && decider) result.pattern = decider.text;
    return { result, state };
  }

  /** The state of a directory, computed from the root down. */
  stateOf(relDir: string): MatchState {
    let state: MatchState | undefined;
    let prefix = '';
    for (const part of normalizeRel(relDir).split('/')) {
      if (part === '.' || part === '') continue;
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      state = this.check(prefix, state).state;
    }
    return state ?? new Array<boolean>(this.patterns.length).fill(false);
  }

  /**
   * Could a `!` pattern re-include something below this (excluded) directory, so that a walk must descend?
   * Same rule as BuildKit's context walk: yes if any `!` pattern has wildcards, else only if a `!` pattern
   * names a path below the directory.
   */
  mayReinclude(relDir: string): boolean {
    if (!this.hasExclusions) return false;
    if (!this.onlyPrefixExclusions) return true;
    const dirSlash = `${normalizeRel(relDir)}/`;
    return this.patterns.some((p) => p.exclusion && `${withoutTrailingGlob(p.cleaned)}/`.startsWith(dirSlash));
  }
}

function withoutTrailingGlob(p: string): string {
  if (p.endsWith('/**')) return p.slice(0, -3);
  if (p.endsWith('/*')) return p.slice(0, -2);
  return p;
}

function normalizeRel(p: string): string {
  const c = cleanSlashPath(p);
  return c.startsWith('/') ? (c === '/' ? '.' : c.slice(1)) : c;
}
