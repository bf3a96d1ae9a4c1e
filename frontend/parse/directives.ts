/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of a Dockerfile, read with
 * BuildKit's rules: the block ends at the first line that is not `#name=value` with a known name;
 * a repeated directive or an escape other than `\` / `` ` `` is an error.
 *
 * dockerfile-ast's getDirectives() agrees on the whole conformance corpus, but it has no such
 * validation, keeps reading after an unknown directive, and stops after a value with trailing
 * blanks or inner spaces (`# syntax=a b`), so this reader is the source of the directives.
 */
import { trimLeftSpace } from './text.js';

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const VALID_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

export interface Directive {
  name: string;
  value: string;
}

export interface DirectiveBlock {
  escapeToken: string;
  syntax?: string;
  /** The directives in order (names lower case). */
  list: Directive[];
}

export class DirectiveError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
  }
}

/** Read the directive block from the physical lines. Throws DirectiveError. */
export function readDirectives(lines: readonly string[]): DirectiveBlock {
  const block: DirectiveBlock = { escapeToken: '\\', list: [] };
  for (let i = 0; i < lines.length; i++) {
    const m = DIRECTIVE.exec(trimLeftSpace(lines[i]!.replace(/[\r\n]+$/, '')));
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (!VALID_DIRECTIVES.has(name)) break;
    if (block.list.some((d) => d.name === name)) throw new DirectiveError(`only one ${name} parser directive can be used`, i + 1);
    const value = m[2]!;
    if (name === 'escape') {
      if (value !== '`' && value !== '\\') throw new DirectiveError(`invalid escape token '${value}' does not match \` or \\`, i + 1);
      block.escapeToken = value;
    } else if (name === 'syntax') {
      block.syntax = value;
    }
    block.list.push({ name, value });
  }
  return block;
}

/**
 * The directive block rewritten so that dockerfile-ast reads exactly `block` (used only when its
 * escape character differs from BuildKit's): each directive line becomes `#name=value` right-aligned
 * in its original width (d-ast stops at trailing blanks, and widths keep every later offset), and a
 * comment line right after the block loses its `=` so d-ast does not take it as a directive.
 * Returns the replacement lines; the caller keeps every other line.
 */
export function directiveLinesForAst(lines: readonly string[], block: DirectiveBlock): string[] {
  const out = block.list.map((d, i) => {
    const canonical = `#${d.name}=${d.value}`;
    return ' '.repeat(Math.max(0, lines[i]!.length - canonical.length)) + canonical;
  });
  const next = lines[block.list.length];
  if (next !== undefined && trimLeftSpace(next).startsWith('#')) out.push(next.replaceAll('=', ' '));
  return out;
}
