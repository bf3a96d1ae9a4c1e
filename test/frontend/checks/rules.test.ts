import { describe, expect, it } from 'vitest';
import { isSecretName, parseCheckDirective } from '../../../frontend/checks/rules.js';
import { dockerfileToDefinition } from '../../../frontend/index.js';
import { frontendInput } from '../fake-images.js';

const convert = (dockerfile: string, extra: { checkOnly?: boolean; excludePatterns?: string[] } = {}) =>
  dockerfileToDefinition(frontendInput(dockerfile, { excludePatterns: extra.excludePatterns ?? [], ...(extra.checkOnly ? { checkOnly: true } : {}) }));
const rules = async (text: string, extra = {}) => (await convert(text, extra)).warnings.filter((w) => w.rule).map((w) => `${w.line}:${w.rule}`);

describe('build checks', () => {
  it('names secrets the way BuildKit does', () => {
    for (const n of ['API_KEY', 'password', 'DB_PASSWORD', 'GITHUB_TOKEN', 'AUTH', 'aws_secret_access_key']) expect(isSecretName(n)).toBe(true);
    for (const n of ['PUBLIC_KEY', 'KEYBOARD', 'MONKEY', 'TOKENIZER_PATH', 'PATH']) expect(isSecretName(n)).toBe(false);
  });

  it('reads # check= (skip lists, skip=all, error=) and rejects nonsense', () => {
    const c = parseCheckDirective('skip=JSONArgsRecommended, UndefinedVar;error=true');
    expect(typeof c).toBe('object');
    if (typeof c === 'object') {
      expect([...c.skip]).toEqual(['JSONArgsRecommended', 'UndefinedVar']);
      expect(c.error).toBe(true);
    }
    expect(parseCheckDirective('skip=all')).toMatchObject({ skipAll: true });
    expect(typeof parseCheckDirective('skip')).toBe('string');
    expect(typeof parseCheckDirective('error=maybe')).toBe('string');
    expect(typeof parseCheckDirective('colour=red')).toBe('string');
  });

  it('UndefinedVar: not for declared ARGs (even without value), not for ${X:-default}, once per line', async () => {
    expect(await rules('FROM busybox\nARG LATER\nENV A=$LATER B=${NOPE:-d} C=$NOPE D=$NOPE\nWORKDIR /$MISSING\n')).toEqual([
      '3:UndefinedVar',
      '4:UndefinedVar',
    ]);
  });

  it('UndefinedArgInFrom: only global ARGs and the platform args count as declared', async () => {
    expect(await rules('ARG TAG\nFROM busybox${TAG}\nFROM busybox${TARGETARCH:+}\nARG INSIDE\nFROM busybox$INSIDE\n')).toEqual(['5:UndefinedArgInFrom']);
  });

  it('CopyIgnoredFile for a named source the .dockerignore excludes, not for a re-included one', async () => {
    expect(await rules('FROM busybox\nCOPY a.log /\nCOPY keep.log /\nCOPY *.log /l/\n', { excludePatterns: ['*.log', '!keep.log'] })).toEqual(['2:CopyIgnoredFile']);
  });

  it('--check mode reports a duplicate stage name instead of failing, and looks at unreachable stages', async () => {
    expect(await rules('FROM busybox AS a\nFROM busybox AS a\nENV X=$UNDEF\nFROM busybox\n', { checkOnly: true })).toEqual(['2:DuplicateStageName', '3:UndefinedVar']);
    await expect(convert('FROM busybox AS a\nFROM busybox AS a\n')).rejects.toMatchObject({ code: 'DUPLICATE_STAGE' });
  });

  it('JSONArgsRecommended is not reported after a SHELL instruction in the stage', async () => {
    expect(await rules('FROM busybox\nSHELL ["/bin/sh","-c"]\nCMD echo\nFROM busybox\nCMD echo\n')).toEqual(['5:JSONArgsRecommended']);
  });
});
