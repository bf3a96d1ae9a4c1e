/**
 * Builds a ParsedNode from one joined line, splitting arguments per keyword with BuildKit's rules
 * (flags, JSON exec form with shell-form fallback, ENV/LABEL name=value words, HEALTHCHECK, ONBUILD).
 * Throws NodeSyntaxError; the caller adds the location.
 */
import type { ParsedNode } from './types.js';
import { WHITESPACE_RUN, isSpace, splitOnce, trimLeftSpace, trimSpace } from './text.js';

export class NodeSyntaxError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type ArgParser = (rest: string, escapeToken: string) => { args: string[]; json: boolean; sub?: ParsedNode };

/** Leading `--` words of `line`; returns the remainder and the flags. A bare `--` ends them. */
export function extractBuilderFlags(line: string): { rest: string; flags: string[] } {
  // Walked by UTF-16 unit: every character with a meaning here is ASCII, and the parts of a surrogate pair
  // are appended one after the other (the same word as walking by code point). Stops at the first word
  // that is not a flag, so a long instruction costs nothing here.
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    const ch = atEnd ? '' : line[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
    } else if (ch === quote) {
      // in quote: the closing quote
      phase = 'word';
      continue;
    }
    // A character of the flag (in a word or in quotes); a backslash takes the next one literally.
    let c = ch;
    if (c === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word'; // a trailing backslash also ends an open quote
        continue;
      }
      pos++;
      c = line[pos]!;
    }
    word += c;
  }
  return { rest: '', flags };
}

/** Words separated by white space, keeping quotes and escapes raw (ENV, LABEL, ARG). */
export function parseWords(rest: string, escapeToken: string): string[] {
  // By UTF-16 unit, as extractBuilderFlags (the escape and quotes are ASCII).
  const chars = rest;
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? '' : chars[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue;
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

const NOT_STRING_ARRAY = 'NOT_STRING_ARRAY';

/** A JSON string array, or null when `rest` is not JSON (a valid array holding a non-string throws). */
function parseJSON(rest: string): string[] | null {
  const s = trimLeftSpace(rest);
  if (!s.startsWith('[')) return null;
  let value: unknown;
  try {
    value = JSON.parse(s);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  for (const v of value) {
    if (typeof v !== 'string') throw new NodeSyntaxError('INVALID_JSON', `${NOT_STRING_ARRAY}: JSON array must contain only strings: ${s}`);
  }
  return value as string[];
}

const splitWhitespace = (rest: string): string[] => rest.split(new RegExp(WHITESPACE_RUN.source, 'g'));

const parseString: ArgParser = (rest) => ({ args: rest === '' ? [] : [rest], json: false });

const parseStringsWhitespaceDelimited: ArgParser = (rest) => ({ args: rest === '' ? [] : splitWhitespace(rest), json: false });

const parseMaybeJSON: ArgParser = (rest) => {
  if (rest === '') return { args: [], json: false };
  const json = parseJSON(rest);
  if (json) return { args: json, json: true };
  return { args: [rest], json: false };
};

const parseMaybeJSONToList: ArgParser = (rest, esc) => {
  const json = parseJSON(rest);
  if (json) return { args: json, json: true };
  return parseStringsWhitespaceDelimited(rest, esc);
};

function parseNameVal(key: string): ArgParser {
  return (rest, esc) => {
    const words = parseWords(rest, esc);
    if (words.length === 0) return { args: [], json: false };
    if (!words[0]!.includes('=')) {
      const parts = splitOnce(rest);
      if (parts.length < 2) throw new NodeSyntaxError('INVALID_INSTRUCTION', `${key} must have two arguments`);
      return { args: [parts[0], parts[1]!, ''], json: false };
    }
    const args: string[] = [];
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        throw new NodeSyntaxError('INVALID_INSTRUCTION', `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
      }
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return { args, json: false };
  };
}

const parseNameOrNameVal: ArgParser = (rest, esc) => ({ args: parseWords(rest, esc), json: false });

const parseHealthConfig: ArgParser = (rest, esc) => {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
  let next = sep;
  while (next < rest.length && isSpace(rest[next]!)) next++;
  if (sep === 0) return { args: [], json: false };
  const cmd = parseMaybeJSON(rest.slice(next), esc);
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
};

const parseSubCommand: ArgParser = (rest, esc) => {
  if (rest === '') return { args: [], json: false };
  return { args: [], json: false, sub: nodeFromLine(rest, esc, { startLine: 0, endLine: 0, lineText: rest }) };
};

const DISPATCH: Record<string, ArgParser> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: parseNameVal('ENV'),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: parseNameVal('LABEL'),
  maintainer: parseString,
  onbuild: parseSubCommand,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** Keywords BuildKit knows (lowercase). */
export const KNOWN_KEYWORDS: ReadonlySet<string> = new Set(Object.keys(DISPATCH));

/** Parse one joined line into a node (no heredoc bodies yet). */
export function nodeFromLine(
  line: string,
  escapeToken: string,
  where: { startLine: number; endLine: number; lineText: string },
): ParsedNode {
  const parts = splitOnce(trimSpace(line));
  const keyword = parts[0];
  let flags: string[] = [];
  let rest = '';
  if (parts.length === 2) {
    const extracted = extractBuilderFlags(parts[1]);
    flags = extracted.flags;
    rest = trimSpace(extracted.rest);
  }
  const fn = DISPATCH[keyword.toLowerCase()];
  const parsed = fn ? fn(rest, escapeToken) : { args: [''], json: false };
  const node: ParsedNode = {
    keyword,
    flags,
    args: parsed.args,
    json: parsed.json,
    rest,
    heredocs: [],
    original: line,
    startLine: where.startLine,
    endLine: where.endLine,
    lineText: where.lineText,
  };
  if ('sub' in parsed && parsed.sub) {
    parsed.sub.startLine = where.startLine;
    parsed.sub.endLine = where.endLine;
    parsed.sub.lineText = where.lineText;
    node.sub = parsed.sub;
  }
  return node;
}
