/**
 * Dockerfile → BuildKit-shaped nodes with 1-based lines: our normalising layer over dockerfile-ast.
 *
 * dockerfile-ast (through ast-view.ts) says where each instruction starts and ends and where its
 * flags are written. This layer builds the BuildKit text of each instruction from its lines: the first line loses its leading blanks, a line continues when
 * the escape character is its last non-blank character and is not itself escaped, comment and blank
 * lines inside a continuation are dropped, and the joined line is split by node.ts.
 *
 * Where the two disagree, BuildKit's rules win and d-ast is re-synchronised (AstView.resyncAfter):
 * - a line ending in an escaped escape (`ENV C trailing\\`): BuildKit ends the instruction there,
 *   d-ast joins the next line. AstView hides those from d-ast up front (see there); if one got
 *   through, the joined line would end before d-ast's range does and be caught as below.
 * - heredocs d-ast reads differently (`3<<EOF`, a quoted `"<<EOF"`, `<<-A <<B` with tab-indented
 *   terminators): heredoc words come from heredocsFromLine and bodies from delimiterLines, so the
 *   instruction ends on another line than d-ast says.
 * - anything else that makes an instruction end on another line (a line of Unicode blanks inside a
 *   continuation, which BuildKit skips and d-ast does not).
 * So every instruction ends exactly where BuildKit ends it, whatever d-ast reported.
 */
import { DockerfileError } from '../../src/errors.js';
import { AstView, rememberAst } from './ast-view.js';
import { DirectiveError, readDirectives, type DirectiveBlock } from './directives.js';
import { NodeSyntaxError, nodeFromLine } from './node.js';
import { heredocsFromLine, type HeredocStart } from './heredoc.js';
import { errorColumn, trimLeftSpace } from './text.js';
import type { Heredoc, ParsedNode, ParseResult, ParseWarning } from './types.js';

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
const isComment = (s: string): boolean => trimLeftSpace(s).startsWith('#');

/** Split keeping each line's newline, like BuildKit's scanner. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function continuationRegex(esc: string): RegExp {
  const e = esc === '\\' ? '\\\\' : esc;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

interface LogicalLine {
  /** The joined text, or null when the first line is blank or a comment (no instruction). */
  text: string | null;
  endLine: number;
  emptyContinuation: boolean;
}

/** BuildKit's line joining from 1-based `start`. */
function joinLines(lines: readonly string[], start: number, continuation: RegExp): LogicalLine {
  const split = (line: string): [string, boolean] =>
    continuation.test(line) ? [line.replace(continuation, '$1'), false] : [line, true];
  const first = trimLeftSpace(trimNewline(lines[start - 1] ?? ''));
  let [text, eol] = split(isComment(first) ? '' : first);
  let line = start;
  if (eol && text.length === 0) return { text: null, endLine: line, emptyContinuation: false };
  let emptyContinuation = false;
  while (!eol && line < lines.length) {
    const raw = lines[line++]!;
    if (isComment(raw)) continue;
    const processed = trimNewline(raw);
    if (trimLeftSpace(processed).length === 0) {
      emptyContinuation = true;
      continue;
    }
    let part: string;
    [part, eol] = split(processed);
    text += part;
  }
  return { text, endLine: line, emptyContinuation };
}

/** The terminator test for one heredoc on one physical line. */
const terminates = (raw: string, h: HeredocStart): boolean =>
  (h.chomp ? trimNewline(raw).replace(/^\t+/, '') : trimNewline(raw)) === h.name;

/**
 * 1-based delimiter lines for `starts`, bodies beginning after line `after`; shorter than `starts`
 * when a heredoc is unterminated. Searched here: d-ast's getHeredocs() finds heredoc words without
 * regard to quotes (and knows no `3<<EOF`), so checking its answer would take this same search.
 */
function delimiterLines(lines: readonly string[], starts: HeredocStart[], after: number): number[] {
  const out: number[] = [];
  let line = after;
  for (const h of starts) {
    while (line < lines.length && !terminates(lines[line]!, h)) line++;
    if (line === lines.length) break;
    out.push(++line);
  }
  return out;
}

/** Parse a whole Dockerfile into nodes. Throws DockerfileError. */
export function scanDockerfile(text: string, file: string): ParseResult {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = splitLines(body);
  const lineText = (n: number): string => trimNewline(lines[n - 1] ?? '');
  const fail = (code: string, message: string, line: number, needle?: string): never => {
    throw new DockerfileError(code, message, { file, line, column: errorColumn(lineText(line), needle), lineText: lineText(line) });
  };
  let directives: DirectiveBlock;
  try {
    directives = readDirectives(lines);
  } catch (err) {
    if (err instanceof DirectiveError) fail('INVALID_DIRECTIVE', err.message, err.line);
    throw err;
  }
  const escapeToken = directives!.escapeToken;
  const continuation = continuationRegex(escapeToken);
  const nodes: ParsedNode[] = [];
  const warnings: ParseWarning[] = [];
  const view = new AstView(body, lines, directives!);

  let pending = view.instructions();
  for (let k = 0; k < pending.length; k++) {
    const a = pending[k]!;
    const logical = joinLines(lines, a.startLine, continuation);
    let end = logical.endLine;
    if (logical.text !== null) {
      if (logical.emptyContinuation) warnings.push({ message: `Empty continuation line found in: ${logical.text}`, line: end });
      let node: ParsedNode;
      try {
        node = nodeFromLine(logical.text, escapeToken, { startLine: a.startLine, endLine: end, lineText: lineText(a.startLine) });
      } catch (err) {
        if (err instanceof NodeSyntaxError) fail(err.code, err.message, a.startLine);
        throw err;
      }
      const target = node!.sub ?? node!;
      const canHeredoc = ['run', 'copy', 'add'].includes(target.keyword.toLowerCase()) && !target.json;
      if (canHeredoc && logical.text.includes('<<')) {
        let starts: HeredocStart[] = [];
        try {
          starts = heredocsFromLine(logical.text);
        } catch (err) {
          fail('INVALID_HEREDOC', (err as Error).message, a.startLine);
        }
        if (starts.length > 0) {
          const delims = delimiterLines(lines, starts, end);
          if (delims.length < starts.length) fail('UNTERMINATED_HEREDOC', `unterminated heredoc ${starts[delims.length]!.name}`, a.startLine, '<<');
          let from = end;
          target.heredocs = starts.map((h, i): Heredoc => {
            const content = lines.slice(from, delims[i]! - 1).join('');
            from = delims[i]!;
            return { ...h, content };
          });
          end = from;
        }
      }
      node!.endLine = end;
      if (node!.sub) node!.sub.endLine = end;
      nodes.push(node!);
      rememberAst(node!, view, a);
    }
    if (end !== a.endLine) {
      pending = view.resyncAfter(end);
      k = -1;
    }
  }
  if (nodes.length === 0) {
    throw new DockerfileError('NO_INSTRUCTIONS', 'the Dockerfile has no instructions', { file, line: Math.max(lines.length, 1), column: 1, lineText: lineText(Math.max(lines.length, 1)) });
  }
  const result: ParseResult = { nodes, escapeToken, warnings };
  if (directives!.syntax !== undefined) result.syntax = directives!.syntax;
  const check = directives!.list.findIndex((d) => d.name === 'check');
  if (check >= 0) result.check = { value: directives!.list[check]!.value, line: check + 1 };
  return result;
}
