import { describe, expect, it } from 'vitest';
import { insideRoot, joinPath, relativeToRoot } from '../../../frontend/convert/paths.js';
import { cleanSlashPath as cleanPath } from '../../../src/fsutil/slashpath.js';
import { resolveDest } from '../../../frontend/convert/copy.js';
import { parsePortSpec } from '../../../frontend/convert/ports.js';
import { formatGoDuration, parseGoDuration } from '../../../frontend/parse/duration.js';

describe('paths', () => {
  it.each([
    ['', '.'], ['/', '/'], ['a/../..', '..'], ['/a/../..', '/'], ['a//b/./c/', 'a/b/c'], ['../x', '../x'],
  ])('cleanPath(%j) = %j', (p, want) => expect(cleanPath(p)).toBe(want));
  it('joinPath', () => expect(joinPath('/', '/a/b', '../c')).toBe('/a/c'));
  it('relativeToRoot refuses to leave the root', () => {
    expect(relativeToRoot('/src/')).toBe('src');
    expect(relativeToRoot('./')).toBe('.');
    expect(relativeToRoot('a/../../x')).toBeNull();
    expect(insideRoot('../../etc/x')).toBe('etc/x');
  });
  it.each([
    ['/abs', '/w', '/abs'], ['rel', '/w', '/w/rel'], ['.', '/w', '/w/'], ['dir/', '/', '/dir/'], ['/', '/w', '/'],
  ])('resolveDest(%j, %j) = %j', (d, wd, want) => expect(resolveDest(d, wd)).toBe(want));
});

describe('ports and durations', () => {
  it('parses port specs', () => {
    expect(parsePortSpec('80')).toEqual(['80/tcp']);
    expect(parsePortSpec('53/UDP')).toEqual(['53/udp']);
    expect(parsePortSpec('1-3/tcp')).toEqual(['1/tcp', '2/tcp', '3/tcp']);
    expect(parsePortSpec('127.0.0.1:80:8080')).toEqual(['8080/tcp']);
    expect(() => parsePortSpec('http')).toThrow();
    expect(() => parsePortSpec('80/foo')).toThrow();
  });
  it('round-trips Go durations', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('5')).toBeNull();
    expect(formatGoDuration(90e9)).toBe('1m30s');
    expect(formatGoDuration(500e6)).toBe('500ms');
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(3600e9)).toBe('1h0m0s');
  });
});
