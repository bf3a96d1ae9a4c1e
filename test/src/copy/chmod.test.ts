import { describe, expect, it } from 'vitest';
import { ContextError } from '../../../src/errors.js';
import { isValidModeSpec, parseModeSpec } from '../../../src/copy/chmod.js';

describe('parseModeSpec (--chmod)', () => {
  it('takes octal modes as they are', () => {
    expect(parseModeSpec('755')(0o600, false)).toBe(0o755);
    expect(parseModeSpec('0644')(0o777, true)).toBe(0o644);
    expect(parseModeSpec('4755')(0, false)).toBe(0o4755);
  });

  it('applies symbolic clauses to the entry’s own mode, like chmod(1) without a umask', () => {
    expect(parseModeSpec('u+x')(0o644, false)).toBe(0o744);
    expect(parseModeSpec('g-w,o-rwx')(0o775, false)).toBe(0o750);
    expect(parseModeSpec('+x')(0o644, false)).toBe(0o755);
    expect(parseModeSpec('a=r')(0o777, false)).toBe(0o444);
    expect(parseModeSpec('u=rwx,go=')(0o644, false)).toBe(0o700);
    expect(parseModeSpec('go=u')(0o640, false)).toBe(0o666);
    expect(parseModeSpec('u+s')(0o755, false)).toBe(0o4755);
    expect(parseModeSpec('+t')(0o755, true)).toBe(0o1755);
    expect(parseModeSpec('u+x-w')(0o644, false)).toBe(0o544);
  });

  it('sets X only on directories and on files that are executable by someone', () => {
    const f = parseModeSpec('a+X');
    expect(f(0o644, false)).toBe(0o644);
    expect(f(0o744, false)).toBe(0o755);
    expect(f(0o600, true)).toBe(0o711);
  });

  it('rejects what is neither octal nor symbolic, with BAD_CHMOD', () => {
    for (const bad of ['', '999', '12345', 'rwx', 'u+z', 'x+r', 'u+x,', ',u+x', 'u']) {
      expect(isValidModeSpec(bad)).toBe(false);
      expect(() => parseModeSpec(bad)).toThrow(ContextError);
    }
    try {
      parseModeSpec('u+z');
    } catch (e) {
      expect((e as ContextError).code).toBe('BAD_CHMOD');
    }
  });
});
