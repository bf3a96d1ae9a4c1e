/**
 * The line layer of the Dockerfile parser (BuildKit's rules): BOM, `# syntax=` / `# escape=`
 * directives at the top, comments, line continuations (the escape character as the last non-blank
 * character, unless itself escaped), comment and blank lines inside a continuation, and heredoc bodies.
 * Produces ParsedNodes with 1-based line numbers.
 */
import { DockerfileError } from '../../src/errors.js';
import { NodeSyntaxError, nodeFromLine } from './node.js';
import { heredocsFromLine } from './heredoc.js';
import { trimLeftSpace } from './text.js';
import type { ParsedNode, ParseResult, ParseWarning } from './types.js';

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const VALID_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

class Directives {
  escapeToken = '\\';
  continuation = Directives.continuationRegex('\\');
  syntax: string | undefined;
  private done = false;
  private readonly seen = new Set<string>();

  static continuationRegex(esc: string): RegExp {
    const e = esc === '\\' ? '\\\\' : esc;
    return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  /** Looks at one line; throws Error on a bad or repeated directive. */
  consider(line: string): void {
    if (this.done) return;
    const m = DIRECTIVE.exec(line);
    if (!m) {
      this.done = true;
      return;
    }
    const key = m[1]!.toLowerCase();
    if (!VALID_DIRECTIVES.has(key)) {
      this.done = true;
      return;
    }
    if (this.seen.has(key)) throw new Error(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    const value = m[2]!;
    if (key === 'escape') {
      if (value !== '`' && value !== '\\') throw new Error(`invalid escape token '${value}' does not match \` or \\`);
      this.escapeToken = value;
      this.continuation = Directives.continuationRegex(value);
    } else if (key === 'syntax') {
      this.syntax = value;
    }
  }
}

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
const isComment = (s: string): boolean => trimLeftSpace(s).startsWith('#');

/** Split keeping each line's newline, like BuildKit's scanner. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** Parse a whole Dockerfile into nodes. Throws DockerfileError. */
export function scanDockerfile(text: string, file: string): ParseResult {
  const lines = splitLines(text);
  if (lines.length > 0 && lines[0]!.startsWith('\uFEFF')) lines[0] = lines[0]!.slice(1);
  const d = new Directives();
  const nodes: ParsedNode[] = [];
  const warnings: ParseWarning[] = [];
  const lineText = (n: number): string => trimNewline(lines[n - 1] ?? '');
  const fail = (code: string, message: string, line: number): never => {
    throw new DockerfileError(code, message, { file, line, lineText: lineText(line) });
  };
  const processLine = (raw: string, stripLeft: boolean, lineNo: number): string => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    try {
      d.consider(token);
    } catch (err) {
      fail('INVALID_DIRECTIVE', (err as Error).message, lineNo);
    }
    return isComment(token) ? '' : token;
  };
  const trimContinuation = (line: string): [string, boolean] => {
    if (d.continuation.test(line)) return [line.replace(d.continuation, '$1'), false];
    return [line, true];
  };

  let i = 0;
  let current = 0;
  while (i < lines.length) {
    const first = processLine(lines[i++]!, true, current + 1);
    current++;
    const startLine = current;
    let [buf, eol] = trimContinuation(first);
    if (eol && buf.length === 0) continue;
    let emptyContinuation = false;
    while (!eol && i < lines.length) {
      const raw = lines[i++]!;
      const processed = processLine(raw, false, current + 1);
      current++;
      if (isComment(raw)) continue;
      if (trimLeftSpace(trimNewline(processed)).length === 0) {
        emptyContinuation = true;
        continue;
      }
      let part: string;
      [part, eol] = trimContinuation(processed);
      buf += part;
    }
    if (emptyContinuation) warnings.push({ message: `Empty continuation line found in: ${buf}`, line: current });

    let node: ParsedNode;
    try {
      node = nodeFromLine(buf, d.escapeToken, { startLine, endLine: current, lineText: lineText(startLine) });
    } catch (err) {
      if (err instanceof NodeSyntaxError) fail(err.code, err.message, startLine);
      throw err;
    }
    const target = node.sub ?? node;
    const canHeredoc = ['run', 'copy', 'add'].includes(target.keyword.toLowerCase()) && !target.json;
    if (canHeredoc && buf.includes('<<')) {
      let starts;
      try {
        starts = heredocsFromLine(buf);
      } catch (err) {
        fail('INVALID_HEREDOC', (err as Error).message, startLine);
      }
      for (const h of starts!) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const raw = lines[i++]!;
          current++;
          let candidate = trimNewline(raw);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += raw;
        }
        if (!terminated) fail('UNTERMINATED_HEREDOC', `unterminated heredoc ${h.name}`, startLine);
        target.heredocs.push({ ...h, content });
      }
    }
    node.endLine = current;
    if (node.sub) node.sub.endLine = current;
    nodes.push(node);
  }
  if (nodes.length === 0) {
    throw new DockerfileError('NO_INSTRUCTIONS', 'the Dockerfile has no instructions', { file, line: Math.max(current, 1), lineText: '' });
  }
  const result: ParseResult = { nodes, escapeToken: d.escapeToken, warnings };
  if (d.syntax !== undefined) result.syntax = d.syntax;
  return result;
}
