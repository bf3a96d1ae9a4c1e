/**
 * Long lines: a 1 MB instruction line parses to the right arguments, and dockerfile-ast is never given it
 * whole (it walks an instruction's text character by character several times; a 1 MB line cost ~2 s of
 * CPU): every text d-ast parses is counted here (its parse() wrapped before the parser is loaded), which
 * proves the work without timing anything. The cut must not change a result: flags and their error
 * columns, continuations, heredocs in the middle of a long line, directives followed by a long comment.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DockerfileParser } from 'dockerfile-ast';
import { DockerfileError } from '../../../src/errors.js';

/** Lengths of the texts d-ast was asked to parse. */
const astInputs: number[] = [];
const parseAst = DockerfileParser.parse.bind(DockerfileParser);
(DockerfileParser as unknown as { parse: (t: string) => unknown }).parse = (text: string) => {
  astInputs.push(text.length);
  return parseAst(text);
};

let parse: typeof import('../../../frontend/parse/index.js').parseDockerfile;
beforeAll(async () => {
  ({ parseDockerfile: parse } = await import('../../../frontend/parse/index.js'));
});

const MB = 1 << 20;
const words = (n: number) => 'abcdefgh '.repeat(Math.ceil(n / 9)).slice(0, n).trimEnd();

function parsed(text: string) {
  astInputs.length = 0;
  const r = parse(text, 'Dockerfile');
  return { r, astMax: Math.max(...astInputs) };
}

describe('a 1 MB line', () => {
  it('RUN (shell form, with a flag): the right command; d-ast sees at most a few KiB of it', () => {
    const body = words(MB);
    const { r, astMax } = parsed(`FROM scratch\nRUN --network=none echo ${body}\nUSER 1\n`);
    const run = r.instructions[1]!;
    expect(run.keyword).toBe('RUN');
    if (run.keyword !== 'RUN') throw new Error();
    expect(run.network).toBe('none');
    expect(run.args).toEqual([`echo ${body}`]);
    expect(r.instructions[2]).toMatchObject({ keyword: 'USER', value: '1', loc: { startLine: 3 } });
    expect(astMax).toBeLessThan(16 << 10);
  });

  it('RUN exec form and COPY with 100,000 sources', () => {
    const body = words(MB);
    const { r, astMax } = parsed(`FROM scratch\nRUN ["echo", "${body}"]\nCOPY ${body} /dst/\n`);
    expect(r.instructions[1]).toMatchObject({ keyword: 'RUN', json: true, args: ['echo', body] });
    const copy = r.instructions[2]!;
    if (copy.keyword !== 'COPY') throw new Error();
    expect(copy.sources.length).toBe(body.split(' ').length);
    expect(copy.sources.at(-1)).toBe(body.split(' ').at(-1));
    expect(copy.dest).toBe('/dst/');
    expect(astMax).toBeLessThan(32 << 10);
  });

  it('ENV and LABEL values', () => {
    const body = words(MB);
    const { r } = parsed(`FROM scratch\nENV A="${body}" B=2\nLABEL l="${body}"\n`);
    expect(r.instructions[1]).toMatchObject({ keyword: 'ENV', pairs: [{ key: 'A', value: `"${body}"` }, { key: 'B', value: '2' }] });
    expect(r.instructions[2]).toMatchObject({ keyword: 'LABEL', pairs: [{ key: 'l', value: `"${body}"` }] });
  });

  it('continued on the next line, and followed by a continued instruction', () => {
    const body = words(MB);
    const { r } = parsed(`FROM scratch\nRUN echo ${body} \\\n  tail\nRUN a \\\n  b\n`);
    expect(r.instructions[1]).toMatchObject({ keyword: 'RUN', args: [`echo ${body}   tail`], loc: { startLine: 2, endLine: 3 } });
    expect(r.instructions[2]).toMatchObject({ keyword: 'RUN', args: ['a   b'], loc: { startLine: 4, endLine: 5 } });
  });

  it('a heredoc word in the middle of the line (cut out of what d-ast sees) still takes its body', () => {
    const body = words(MB / 2);
    const { r, astMax } = parsed(`FROM scratch\nRUN echo ${body} <<EOF ${body}\nline 1\nEOF\nUSER 2\n`);
    const run = r.instructions[1]!;
    if (run.keyword !== 'RUN') throw new Error();
    expect(run.heredocs.map((h) => [h.name, h.content])).toEqual([['EOF', 'line 1\n']]);
    expect(run.loc).toMatchObject({ startLine: 2, endLine: 4 });
    expect(r.instructions[2]).toMatchObject({ keyword: 'USER', value: '2', loc: { startLine: 5 } });
    expect(astMax).toBeLessThan(16 << 10);
  });

  it('an unknown flag: the error points at the flag (column from d-ast, which saw the head)', () => {
    const err = (() => {
      try {
        parse(`FROM scratch\nRUN   --bogus=1 echo ${words(MB)}\n`, 'Dockerfile');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DockerfileError);
    expect((err as DockerfileError).location).toMatchObject({ line: 2, column: 9 });
  });

  it('a long comment after an escape directive (the directive lines are rewritten for d-ast)', () => {
    const { r } = parsed(`# escape=\`\n# ${words(MB)}\nFROM scratch\nRUN echo a \`\n  b\n`);
    expect(r.escapeToken).toBe('`');
    expect(r.instructions[1]).toMatchObject({ keyword: 'RUN', args: ['echo a   b'], loc: { startLine: 4, endLine: 5 } });
  });

  it('a line with a surrogate pair at the cut is parsed whole', () => {
    const pad = 'x'.repeat(4095);
    const { r } = parsed(`FROM scratch\nRUN ${pad}😀${words(20_000)}\n`);
    expect(r.instructions[1]).toMatchObject({ keyword: 'RUN', args: [`${pad}😀${words(20_000)}`] });
  });
});
