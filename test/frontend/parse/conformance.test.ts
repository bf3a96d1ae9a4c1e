import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/errors.js';
import { scanDockerfile } from '../../../frontend/parse/scan.js';
import { dumpNodes } from '../../../frontend/parse/dump.js';

const root = fileURLToPath(new URL('../../../../shared/conformance/', import.meta.url));
const decode = (p: string): string => new TextDecoder('utf-8').decode(readFileSync(p));

const positive = readdirSync(root + 'buildkit-parser').sort();
const negative = readdirSync(root + 'buildkit-parser-negative').sort();

describe('buildkit-parser corpus', () => {
  it('holds the 33 positive and 4 negative cases', () => {
    expect(positive.length).toBe(33);
    expect(negative.length).toBe(4);
  });
  it.each(positive)('%s', (name) => {
    const text = decode(`${root}buildkit-parser/${name}/Dockerfile`);
    const expected = decode(`${root}buildkit-parser/${name}/result`);
    const parsed = scanDockerfile(text, 'Dockerfile');
    expect(dumpNodes(parsed.nodes) + '\n').toBe(expected);
  });
});

describe('buildkit-parser-negative corpus', () => {
  it.each(negative)('%s fails', (name) => {
    const text = decode(`${root}buildkit-parser-negative/${name}/Dockerfile`);
    expect(() => scanDockerfile(text, 'Dockerfile')).toThrow(DockerfileError);
  });
});
