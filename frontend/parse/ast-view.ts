/**
 * The structure of a Dockerfile as dockerfile-ast sees it: where each instruction starts and ends
 * (1-based lines, continuation lines and heredoc bodies included) and where its flags are written.
 * This is the only module that imports dockerfile-ast.
 *
 * d-ast is given a copy of the text with the same length and the same line breaks, so every offset,
 * line and column it reports is valid in the original text. The copy differs only where d-ast would
 * otherwise read the text differently from BuildKit:
 * - a lone `\r` (not before `\n`) becomes a space: d-ast's TextDocument counts it as a line break,
 *   BuildKit only splits lines at `\n`;
 * - a line ending in an escaped escape character (`ENV C trailing\\`, blanks allowed after it)
 *   gets `_` for its last escape: BuildKit does not continue such a line (its continuation needs a
 *   non-escape character before the escape), d-ast does (it looks only at the last escape);
 *   with `\_` d-ast ends the instruction there too;
 * - if d-ast's escape character differs from BuildKit's directive block, the block is rewritten
 *   (see directiveLinesForAst).
 * - a physical line longer than LONG_LINE keeps only its head and its tail (`shortenForAst`): d-ast walks
 *   an instruction's text character by character, several times per instruction (a 1 MB line cost ~2 s
 *   of CPU), and tsbuild needs from it only where instructions start and end (decided by a line's end: its
 *   continuation escape) and where flags are written (at the start). Line numbers and the columns of the
 *   head stay valid; whatever the cut hides from d-ast (a heredoc word in the middle of a long line) makes
 *   its instruction end elsewhere than scan.ts's own (full-text) reading, which re-synchronises it as below.
 *   Our own scanner (scan.ts, node.ts) always reads the whole text, in linear time.
 * When scan.ts finds that an instruction really ends on another line than d-ast says (see there),
 * it calls `resyncAfter(line)`: d-ast parses again with every line from the end of the directive
 * block through `line` replaced by blanks, so its next instruction starts where BuildKit's does.
 */
import { DockerfileParser, type Flag, type Instruction } from 'dockerfile-ast';
import { directiveLinesForAst, type DirectiveBlock } from './directives.js';
import type { ParsedNode } from './types.js';

export interface AstInstruction {
  startLine: number;
  endLine: number;
  ast: Instruction;
}

export interface FlagPosition {
  /** `--name` or `--name=value` as d-ast read it. */
  text: string;
  /** 1-based line and column of the flag's name (after `--`), column in UTF-16 units. */
  line: number;
  column: number;
}

interface FlagSource {
  getTriggerInstruction?: () => Instruction | null;
  getFlags?: () => Flag[];
}

/** Lines longer than this (UTF-16 units, newline included) reach d-ast shortened (see above). */
export const LONG_LINE = 8192;
const HEAD = 4096;
const TAIL = 1024;

/**
 * `line` as d-ast gets it: unchanged up to LONG_LINE, else its first HEAD units, a space (so that the
 * two parts never join into a new word such as `<<`), and its last TAIL units (newline included).
 */
export function shortenForAst(line: string): string {
  if (line.length <= LONG_LINE) return line;
  let head = line.slice(0, HEAD);
  let tail = line.slice(line.length - TAIL);
  // Never split a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  if (/^[\uDC00-\uDFFF]/.test(tail)) tail = tail.slice(1);
  return `${head} ${tail}`;
}

export class AstView {
  /** The text d-ast parses: the original with the substitutions described above. */
  private base: string;
  /** The physical lines of `base`. */
  private readonly astLines: string[];
  /** Offset of the start of each line in `base`. */
  private readonly lineStart: number[] = [0];

  /** `lines` are the physical lines of `text`, each with its newline. */
  constructor(text: string, private readonly lines: readonly string[], private readonly directives: DirectiveBlock) {
    let base = /\r(?!\n)/.test(text) ? text.replace(/\r(?!\n)/g, ' ') : text;
    const e = directives.escapeToken === '\\' ? '\\\\' : directives.escapeToken;
    const escapedEscape = new RegExp(`(${e})${e}([ \\t]*)$`, 'gm');
    if (escapedEscape.test(base)) base = base.replace(escapedEscape, '$1_$2');
    // The substitutions keep every line's length, so `base` splits into lines as `text` does.
    if (lines.some((l) => l.length > LONG_LINE)) {
      this.astLines = splitKeepingNewlines(base).map(shortenForAst);
      base = this.astLines.join('');
    } else {
      this.astLines = [...lines];
    }
    for (const l of this.astLines) this.lineStart.push(this.lineStart[this.lineStart.length - 1]! + l.length);
    this.base = base;
  }

  /** Physical line `n` (1-based) of the original text, without its newline. */
  lineText(n: number): string {
    return (this.lines[n - 1] ?? '').replace(/[\r\n]+$/, '');
  }

  /** d-ast's instructions for the whole text. */
  instructions(): AstInstruction[] {
    let df = DockerfileParser.parse(this.base);
    if (df.getEscapeCharacter() !== this.directives.escapeToken) {
      const bodies = this.astLines.map((l) => l.replace(/\r?\n$/, ''));
      directiveLinesForAst(bodies, this.directives).forEach((line, i) => this.replaceLine(i, line));
      df = DockerfileParser.parse(this.base);
    }
    return this.convert(df.getInstructions());
  }

  /** Parse again with lines (directive block, `line`] blanked; the instructions after `line`. */
  resyncAfter(line: number): AstInstruction[] {
    const from = this.lineStart[this.directives.list.length]!;
    const to = this.lineStart[Math.min(line, this.lines.length)]!;
    this.base = this.base.slice(0, from) + this.base.slice(from, to).replace(/[^\n]/g, ' ') + this.base.slice(to);
    return this.convert(DockerfileParser.parse(this.base).getInstructions()).filter((a) => a.startLine > line);
  }

  private replaceLine(index: number, text: string): void {
    const start = this.lineStart[index]!;
    const old = this.astLines[index]!.replace(/\r?\n$/, '');
    this.base = this.base.slice(0, start) + text + this.base.slice(start + old.length);
    this.astLines[index] = text + this.astLines[index]!.slice(old.length);
  }

  private convert(list: Instruction[]): AstInstruction[] {
    return list.map((ast) => {
      const r = ast.getRange();
      // LSP ranges end exclusively: an instruction that runs to EOF after a final newline ends at
      // (next line, character 0), which is not one of its lines.
      const endLine = r.end.character === 0 && r.end.line > r.start.line ? r.end.line : r.end.line + 1;
      return { startLine: r.start.line + 1, endLine, ast };
    });
  }
}

function splitKeepingNewlines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** The instruction d-ast reads builder flags from (ONBUILD's trigger for ONBUILD). */
function target(a: AstInstruction, sub: boolean): FlagSource | null {
  const src = a.ast as unknown as FlagSource;
  if (!sub) return src;
  return (src.getTriggerInstruction?.() ?? null) as FlagSource | null;
}

/** d-ast's flags with their positions (for error columns); [] for instructions it reads none from. */
export function astFlagPositions(a: AstInstruction, sub: boolean): FlagPosition[] {
  const t = target(a, sub);
  if (!t?.getFlags) return [];
  return t.getFlags().map((f) => {
    const start = f.getNameRange().start;
    const value = f.getValue();
    return { text: `--${f.getName()}${value === null ? '' : '=' + value}`, line: start.line + 1, column: start.character + 1 };
  });
}

/** Which d-ast instruction each node came from, for error positions (kept off the public node type). */
const origins = new WeakMap<ParsedNode, { view: AstView; a: AstInstruction; sub: boolean }>();

export function rememberAst(node: ParsedNode, view: AstView, a: AstInstruction): void {
  origins.set(node, { view, a, sub: false });
  if (node.sub) origins.set(node.sub, { view, a, sub: true });
}

/**
 * Where flag `index` of `node` is written: d-ast's position of the same flag (the same text, the
 * same occurrence), checked to point at `--name` in the original line. Null when d-ast did not read
 * that flag the way BuildKit does (quoted flags, instructions it reads no flags for).
 */
export function flagLocation(node: ParsedNode, index: number): { line: number; column: number; lineText: string } | null {
  const origin = origins.get(node);
  const raw = node.flags[index];
  if (!origin || raw === undefined) return null;
  const occurrence = node.flags.slice(0, index).filter((f) => f === raw).length;
  const pos = astFlagPositions(origin.a, origin.sub).filter((p) => p.text === raw)[occurrence];
  if (!pos) return null;
  const lineText = origin.view.lineText(pos.line);
  const name = raw.slice(2).split('=')[0]!;
  if (lineText.slice(pos.column - 3, pos.column - 1 + name.length) !== '--' + name) return null;
  return { line: pos.line, column: pos.column, lineText };
}
