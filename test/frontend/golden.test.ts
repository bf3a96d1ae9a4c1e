/**
 * Golden tests: test/fixtures/dockerfiles/<case>/{Dockerfile, expected.json[, options.json]}.
 * expected.json is a pretty dump of {definition, warnings}; the test compares, and regenerates only
 * when UPDATE_GOLDEN=1. The negative set test/fixtures/dockerfiles-negative/<case>/expected.json holds {code, line}.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../src/errors.js';
import { dockerfileToDefinition, type FrontendInput } from '../../frontend/index.js';
import { parseDockerignore } from '../../src/context/dockerignore.js';
import { fakeResolveImage } from './fake-images.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

interface Options {
  buildArgs?: Record<string, string>;
  target?: string;
  excludePatterns?: string[];
  checkOnly?: boolean;
}

function input(dir: string): FrontendInput {
  const opts: Options = existsSync(dir + '/options.json') ? JSON.parse(readFileSync(dir + '/options.json', 'utf8')) : {};
  const inp: FrontendInput = {
    dockerfile: readFileSync(dir + '/Dockerfile', 'utf8'),
    dockerfilePath: 'Dockerfile',
    // A case with a build context (context/, built by test/e2e/differential-buildkit.test.ts) reads its .dockerignore.
    excludePatterns: opts.excludePatterns ?? (existsSync(dir + '/context/.dockerignore') ? parseDockerignore(readFileSync(dir + '/context/.dockerignore', 'utf8')) : []),
    buildArgs: opts.buildArgs ?? {},
    platform: { os: 'linux', architecture: 'amd64' },
    resolveImage: fakeResolveImage,
  };
  if (opts.target !== undefined) inp.target = opts.target;
  if (opts.checkOnly) inp.checkOnly = true;
  return inp;
}

// Case dirs only (KNOWN-DIFFERENCES.json beside them belongs to the differential suite).
const positive = readdirSync(fixtures + 'dockerfiles', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
const negative = readdirSync(fixtures + 'dockerfiles-negative').sort();

describe('golden Dockerfiles', () => {
  it('has at least 60 cases', () => {
    expect(positive.length).toBeGreaterThanOrEqual(60);
  });
  it.each(positive)('%s', async (name) => {
    const dir = `${fixtures}dockerfiles/${name}`;
    const out = await dockerfileToDefinition(input(dir));
    const dump = JSON.stringify({ definition: out.definition, warnings: out.warnings }, null, 2) + '\n';
    if (update) writeFileSync(dir + '/expected.json', dump);
    expect(dump).toBe(readFileSync(dir + '/expected.json', 'utf8'));
  });
});

describe('negative Dockerfiles', () => {
  it.each(negative)('%s', async (name) => {
    const dir = `${fixtures}dockerfiles-negative/${name}`;
    let error: unknown;
    try {
      await dockerfileToDefinition(input(dir));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DockerfileError);
    const e = error as DockerfileError;
    const got = { code: e.code, line: e.location.line };
    if (update) writeFileSync(dir + '/expected.json', JSON.stringify(got, null, 2) + '\n');
    expect(got).toEqual(JSON.parse(readFileSync(dir + '/expected.json', 'utf8')));
    expect(e.location.file).toBe('Dockerfile');
    expect(typeof e.location.lineText).toBe('string');
    // file:line:column for the caret under the offending line.
    expect(e.location.column).toBeGreaterThan(0);
    expect(e.location.column!).toBeLessThanOrEqual(Math.max(1, e.location.lineText!.length));
  });
});
