/**
 * The normalising layer over dockerfile-ast: facts taken from d-ast (flag positions, instruction
 * boundaries, heredoc delimiters) and the inputs where BuildKit's rules correct it.
 */
import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/errors.js';
import { parseDockerfile, scanDockerfile, dumpNodes } from '../../../frontend/parse/index.js';

function err(text: string): DockerfileError {
  try {
    parseDockerfile(text, 'Dockerfile');
  } catch (e) {
    if (e instanceof DockerfileError) return e;
    throw e;
  }
  throw new Error('expected a DockerfileError');
}

const spans = (text: string): string[] => scanDockerfile(text, 'Dockerfile').nodes.map((n) => `${n.keyword}@${n.startLine}-${n.endLine}`);

describe('flag positions from dockerfile-ast', () => {
  it('gives the line and column of a bad flag, also on a continuation line', () => {
    const e = err('FROM x\nCOPY --from=a \\\n     --frm=base a b\n');
    expect(e.code).toBe('INVALID_FLAG');
    expect(e.location).toEqual({ file: 'Dockerfile', line: 3, column: 8, lineText: '     --frm=base a b' });
  });

  it('picks the right occurrence of a repeated flag', () => {
    const e = err('FROM --platform=a \\\n  --platform=a x\n');
    expect(e.location).toMatchObject({ line: 2, column: 5 });
  });

  it('counts columns after a UTF-8 BOM from the first real character', () => {
    const e = err('\uFEFFFROM --bogus x\n');
    expect(e.location).toMatchObject({ line: 1, column: 8, lineText: 'FROM --bogus x' });
  });

  it('finds the flag in the line where d-ast reads it differently from BuildKit (quotes)', () => {
    const e = err('FROM x\nCOPY --frm="a b" c d\n');
    expect(e.code).toBe('INVALID_FLAG');
    expect(e.location).toEqual({ file: 'Dockerfile', line: 2, column: 6, lineText: 'COPY --frm="a b" c d' });
  });
});

describe('corrections of dockerfile-ast by BuildKit rules', () => {
  it('ends an instruction at an escaped escape character (d-ast joins the next line)', () => {
    expect(spans('FROM a\nENV C trailing\\\\\nENV D x\n')).toEqual(['FROM@1-1', 'ENV@2-2', 'ENV@3-3']);
    expect(spans('# escape=`\nFROM a\nRUN a``\nRUN b `\n c\n')).toEqual(['FROM@2-2', 'RUN@3-3', 'RUN@4-5']);
  });

  it('reads heredocs with a file descriptor, which d-ast does not know', () => {
    const p = scanDockerfile('FROM a\nRUN 3<<EOF cat\nx\nEOF\nRUN b\n', 'Dockerfile');
    expect(p.nodes.map((n) => `${n.keyword}@${n.startLine}-${n.endLine}`)).toEqual(['FROM@1-1', 'RUN@2-4', 'RUN@5-5']);
    expect(p.nodes[1]!.heredocs).toEqual([{ name: 'EOF', content: 'x\n', chomp: false, expand: true, fd: 3 }]);
  });

  it('does not take a quoted "<<EOF" as a heredoc (d-ast does)', () => {
    expect(spans('FROM a\nRUN echo "x <<EOF"\nRUN y\nEOF\n')).toEqual(['FROM@1-1', 'RUN@2-2', 'RUN@3-3', 'EOF@4-4']);
  });

  it('chomps only the <<- heredoc when an instruction mixes both kinds', () => {
    const p = scanDockerfile('FROM a\nRUN <<A <<-B\nx\n\tA\nA\n\tB\nRUN x\n', 'Dockerfile');
    expect(p.nodes[1]!.heredocs.map((h) => [h.name, h.content])).toEqual([['A', 'x\n\tA\n'], ['B', '']]);
    expect(p.nodes[2]!.startLine).toBe(7);
  });

  it('keeps BuildKit lines with a lone CR and skips a line of Unicode blanks inside a continuation', () => {
    expect(spans('FROM a\nRUN a\rb\nRUN c\n')).toEqual(['FROM@1-1', 'RUN@2-2', 'RUN@3-3']);
    const p = scanDockerfile('FROM a\nRUN a \\\n\f\n b\nRUN c\n', 'Dockerfile');
    expect(dumpNodes(p.nodes)).toBe('(from "a")\n(run "a  b")\n(run "c")');
    expect(p.warnings).toEqual([{ message: 'Empty continuation line found in: RUN a  b', line: 4 }]);
  });

  it('stops the directive block at an unknown directive, as BuildKit does (d-ast reads on)', () => {
    const p = scanDockerfile('# foo=bar\n# escape=`\nFROM a\nRUN x `\n  y\n', 'Dockerfile');
    expect(p.escapeToken).toBe('\\');
    expect(dumpNodes(p.nodes)).toBe('(from "a")\n(run "x `")\n(y "")');
  });

  it('reads an escape directive after a syntax value with spaces (d-ast stops there)', () => {
    const p = scanDockerfile('# syntax=a b\n# escape=`\nFROM a\nRUN x `\n  y\n', 'Dockerfile');
    expect(p).toMatchObject({ escapeToken: '`', syntax: 'a b' });
    expect(dumpNodes(p.nodes)).toBe('(from "a")\n(run "x   y")');
  });

  it('reports an unterminated heredoc at its instruction', () => {
    const e = err('FROM a\nRUN <<A <<B\nx\nA\ny\n');
    expect(e.code).toBe('UNTERMINATED_HEREDOC');
    expect(e.message).toContain('B');
    expect(e.location.line).toBe(2);
  });
});
