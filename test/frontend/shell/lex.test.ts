import { describe, expect, it } from 'vitest';
import { ShellLex, envLookup } from '../../../frontend/shell/lex.js';

const env = envLookup(['FILE=archive.tar.gz', 'P=/usr/local/bin', 'E=', 'S=a b  c']);
const w = (s: string): string => new ShellLex().processWord(s, env);

describe('pattern modifiers', () => {
  it.each([
    ['${FILE#*.}', 'tar.gz'],
    ['${FILE##*.}', 'gz'],
    ['${FILE%.*}', 'archive.tar'],
    ['${FILE%%.*}', 'archive'],
    ['${P#/usr}', '/local/bin'],
    ['${P%/bin}', '/usr/local'],
    ['${FILE#nomatch}', 'archive.tar.gz'],
    ['${FILE/a/A}', 'Archive.tar.gz'],
    ['${FILE//a/A}', 'Archive.tAr.gz'],
    ['${FILE/.*/}', 'archive'],
    ['${P//\\//:}', ':usr:local:bin'],
    ['${FILE#\\*}', 'archive.tar.gz'],
    ['${FILE#?}', 'rchive.tar.gz'],
    ['${UNSET#x}', ''],
    ['${FILE/t?r/TAR}', 'archive.TAR.gz'],
  ])('%s → %s', (input, expected) => {
    expect(w(input)).toBe(expected);
  });

  it('rejects :# and :% and bad escapes', () => {
    expect(() => w('${FILE:#x}')).toThrow(/unsupported modifier/);
    expect(() => w('${FILE:%x}')).toThrow(/unsupported modifier/);
    expect(() => w('${FILE#\\a}')).toThrow(/invalid pattern/);
    expect(() => w('${FILE/x}')).toThrow(/missing '\/'/);
  });
});

describe('set, unset and empty', () => {
  it.each([
    ['${E-d}', ''],
    ['${E:-d}', 'd'],
    ['${U-d}', 'd'],
    ['${E+a}', 'a'],
    ['${E:+a}', ''],
    ['${U+a}', ''],
  ])('%s → %s', (input, expected) => {
    expect(w(input)).toBe(expected);
  });
  it('${E:?} says empty, ${U?m} gives the message', () => {
    expect(() => w('${E:?}')).toThrow(/E: is not allowed to be empty/);
    expect(() => w('${U?need it}')).toThrow(/U: need it/);
  });
});

describe('options', () => {
  it('backtick escape token', () => {
    expect(new ShellLex({ escapeToken: '`' }).processWord('a`$P\\x', env)).toBe('a$P\\x');
  });
  it('skipUnsetEnv keeps unset references', () => {
    expect(new ShellLex({ skipUnsetEnv: true }).processWord('$U ${U} ${U:-x} $P', env)).toBe('$U ${U} ${U:-x} /usr/local/bin');
  });
  it('rawQuotes and rawEscapes keep quotes and escapes', () => {
    expect(new ShellLex({ rawQuotes: true, rawEscapes: true }).processWords('cat <<"EOF" a\\ b', env)).toEqual(['cat', '<<"EOF"', 'a\\ b']);
  });
  it('processWords splits expanded values but not quoted ones', () => {
    expect(new ShellLex().processWords('x$S "$S"', env)).toEqual(['xa', 'b', 'c', 'a b  c']);
  });
});
