import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/errors.js';
import { parseDockerfile } from '../../../frontend/parse/index.js';

function err(text: string): DockerfileError {
  try {
    parseDockerfile(text, 'dir/Dockerfile');
  } catch (e) {
    if (e instanceof DockerfileError) return e;
    throw e;
  }
  throw new Error('expected a DockerfileError');
}

describe('parseDockerfile', () => {
  it('gives typed instructions with 1-based lines spanning continuations and heredocs', () => {
    const p = parseDockerfile('FROM busybox AS Build\n\nRUN a \\\n  b\nRUN <<EOF\nx\nEOF\nCOPY --from=build --chown=1:2 a b /d/\n', 'Dockerfile');
    const [from, run, hd, copy] = p.instructions;
    expect(from).toMatchObject({ keyword: 'FROM', image: 'busybox', stageName: 'build', loc: { startLine: 1, endLine: 1 } });
    expect(run).toMatchObject({ keyword: 'RUN', json: false, args: ['a   b'], loc: { startLine: 3, endLine: 4, lineText: 'RUN a \\' } });
    expect(hd).toMatchObject({ keyword: 'RUN', heredocs: [{ name: 'EOF', content: 'x\n', chomp: false, expand: true }], loc: { startLine: 5, endLine: 7 } });
    expect(copy).toMatchObject({ keyword: 'COPY', sources: ['a', 'b'], dest: '/d/', from: 'build', chown: '1:2', loc: { startLine: 8 } });
  });

  it('parses exec form with JSON.parse and falls back to shell form', () => {
    const p = parseDockerfile('FROM x\nCMD ["a b", "c\\u0041"]\nCMD ["unterminated"\n', 'Dockerfile');
    expect(p.instructions[1]).toMatchObject({ json: true, args: ['a b', 'cA'] });
    expect(p.instructions[2]).toMatchObject({ json: false, args: ['["unterminated"'] });
  });

  it('reads quoted ENV values raw (expansion happens later)', () => {
    const p = parseDockerfile('FROM x\nENV A="b c" D=e\\ f\nENV OLD rest of line\n', 'Dockerfile');
    expect(p.instructions[1]).toMatchObject({ pairs: [{ key: 'A', value: '"b c"' }, { key: 'D', value: 'e\\ f' }] });
    expect(p.instructions[2]).toMatchObject({ pairs: [{ key: 'OLD', value: 'rest of line' }] });
  });

  it('reports unknown instructions with file, line and the line text', () => {
    const e = err('FROM x\n\n  BOGUS thing\n');
    expect(e.code).toBe('UNKNOWN_INSTRUCTION');
    expect(e.location).toEqual({ file: 'dir/Dockerfile', line: 3, column: 3, lineText: '  BOGUS thing' });
    expect(e.message).toContain('BOGUS');
  });

  it.each([
    ['FROM x\nRUN --foo=1 true\n', 'INVALID_FLAG', 2],
    ['FROM x\nCOPY --link=maybe a b\n', 'INVALID_FLAG', 2],
    ['FROM x\nCOPY --chown a b\n', 'INVALID_FLAG', 2],
    ['FROM --platform=a --platform=b x\n', 'INVALID_FLAG', 1],
    ['FROM x\nENV\n', 'INVALID_INSTRUCTION', 2],
    ['FROM x\nENV A\n', 'INVALID_INSTRUCTION', 2],
    ['FROM x\nENV A=1 B\n', 'INVALID_INSTRUCTION', 2],
    ['FROM x y\n', 'INVALID_INSTRUCTION', 1],
    ['FROM x AS 1abc\n', 'INVALID_STAGE_NAME', 1],
    ['FROM x\nRUN --security=bogus true\n', 'INVALID_FLAG', 2],
    ['FROM x\nRUN --device=/dev/fuse true\n', 'NOT_SUPPORTED', 2],
    ['FROM x\nHEALTHCHECK --interval=5 CMD true\n', 'INVALID_FLAG', 2],
    ['FROM x\nHEALTHCHECK FOO\n', 'INVALID_INSTRUCTION', 2],
    ['FROM x\nONBUILD FROM y\n', 'INVALID_INSTRUCTION', 2],
    ['# escape=x\nFROM x\n', 'INVALID_DIRECTIVE', 1],
    ['', 'NO_INSTRUCTIONS', 1],
    ['# only\n\n', 'NO_INSTRUCTIONS', 2],
  ])('%j → %s at line %i', (text, code, line) => {
    const e = err(text);
    expect(e.code).toBe(code);
    expect(e.location.line).toBe(line);
  });

  it('reads HEALTHCHECK options in nanoseconds', () => {
    const p = parseDockerfile('FROM x\nHEALTHCHECK --interval=1m30s --start-period=500ms --retries=2 CMD ["true"]\nHEALTHCHECK NONE\n', 'Dockerfile');
    expect(p.instructions[1]).toMatchObject({ test: ['CMD', 'true'], interval: 90e9, startPeriod: 500e6, retries: 2 });
    expect(p.instructions[2]).toMatchObject({ test: ['NONE'] });
  });

  it('keeps ONBUILD triggers as their expression', () => {
    const p = parseDockerfile('FROM x\nonbuild  run echo "hi"\n', 'Dockerfile');
    expect(p.instructions[1]).toMatchObject({ keyword: 'ONBUILD', expression: 'run echo "hi"', trigger: { keyword: 'RUN' } });
  });

  it('reads directives', () => {
    const p = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n', 'Dockerfile');
    expect(p.syntax).toBe('docker/dockerfile:1');
    expect(p.escapeToken).toBe('`');
  });
});
