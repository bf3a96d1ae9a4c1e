import { describe, expect, it } from 'vitest';
import { DockerIgnoreMatcher, parseDockerignore } from '../../../src/context/dockerignore.js';

describe('DockerIgnoreMatcher', () => {
  it('explains which pattern excludes a path', () => {
    const m = new DockerIgnoreMatcher(parseDockerignore('*.log\nsecret*\n!secret.pub\n'));
    expect(m.explain('a.log')).toEqual({ excluded: true, pattern: '*.log' });
    expect(m.explain('secret.key')).toEqual({ excluded: true, pattern: 'secret*' });
    expect(m.explain('secret.pub')).toEqual({ excluded: false });
    expect(m.explain('sub/a.log')).toEqual({ excluded: false }); // anchored at the root, unlike gitignore
  });

  it('mayReinclude follows BuildKit: prefix exceptions only below their directory', () => {
    const m = new DockerIgnoreMatcher(['docs', '!docs/keep.md', 'node_modules']);
    expect(m.mayReinclude('docs')).toBe(true);
    expect(m.mayReinclude('node_modules')).toBe(false);
    const w = new DockerIgnoreMatcher(['*', '!**/*.go']);
    expect(w.mayReinclude('vendor')).toBe(true);
    expect(new DockerIgnoreMatcher(['x']).mayReinclude('x')).toBe(false);
  });

  it('is empty without patterns', () => {
    expect(new DockerIgnoreMatcher(parseDockerignore('# only a comment\n\n')).empty).toBe(true);
    expect(new DockerIgnoreMatcher(['a']).empty).toBe(false);
  });

  it('handles CRLF files and a BOM', () => {
    expect(parseDockerignore('\ufeffa\r\n  b/  \r\n')).toEqual(['a', 'b']);
  });
});
