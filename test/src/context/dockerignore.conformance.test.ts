import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DockerIgnoreMatcher, parseDockerignore } from '../../../src/context/dockerignore.js';
import { ContextError } from '../../../src/errors.js';

// repo root is three levels up from this file (test/src/context); conformance data sits next to the repo.
const repoRoot = new URL('../../../', import.meta.url);
const casesFile = fileURLToPath(new URL('../shared/conformance/dockerignore-cases.json', repoRoot));

interface MatchCase { patterns: string[]; path: string; excluded: boolean; note?: string }
interface ErrorCase { patterns: string[]; path: string; error: true; note?: string }
interface ReadAllCase { file_text: string; patterns: string[] }
const data = JSON.parse(readFileSync(casesFile, 'utf8')) as { matching: MatchCase[]; errors: ErrorCase[]; readAll: ReadAllCase[] };

/** The patterns are .dockerignore lines: go through the file parser, then the matcher, as a build does. */
function matcherFor(lines: string[]): DockerIgnoreMatcher {
  return new DockerIgnoreMatcher(parseDockerignore(lines.join('\n')));
}

describe('dockerignore conformance (moby/patternmatcher)', () => {
  it('has the expected number of cases', () => {
    expect(data.matching.length).toBe(109);
    expect(data.errors.length).toBe(18);
    expect(data.readAll.length).toBe(1);
  });

  it.each(data.matching.map((c, i) => [i, c] as const))('matching #%i', (_i, c) => {
    const m = matcherFor(c.patterns);
    expect({ path: c.path, patterns: c.patterns, excluded: m.excluded(c.path) }).toEqual({ path: c.path, patterns: c.patterns, excluded: c.excluded });
    // The walk-style check (parent state passed down) must agree with the direct one.
    const slash = c.path.lastIndexOf('/');
    const parent = slash < 0 ? undefined : m.stateOf(c.path.slice(0, slash));
    expect(m.check(c.path, parent).result.excluded).toBe(c.excluded);
  });

  it.each(data.errors.map((c, i) => [i, c] as const))('error #%i', (_i, c) => {
    let err: unknown;
    try {
      matcherFor(c.patterns).excluded(c.path);
    } catch (e) {
      err = e;
    }
    expect(err, JSON.stringify(c.patterns)).toBeInstanceOf(ContextError);
    expect((err as ContextError).code).toBe('BAD_DOCKERIGNORE_PATTERN');
    expect((err as ContextError).message).toContain(JSON.stringify(parseDockerignore(c.patterns.join('\n'))[0]));
  });

  it.each(data.readAll.map((c, i) => [i, c] as const))('readAll #%i', (_i, c) => {
    expect(parseDockerignore(c.file_text)).toEqual(c.patterns);
  });
});
