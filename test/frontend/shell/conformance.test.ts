import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShellLex, envLookup } from '../../../frontend/shell/lex.js';

const root = fileURLToPath(new URL('../../../../shared/conformance/buildkit-shell/', import.meta.url));

interface EnvCase { line: number; input: string; expected: string }

function envVarCases(): EnvCase[] {
  const out: EnvCase[] = [];
  readFileSync(root + 'envVarTest', 'utf8').split('\n').forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split('|');
    if (fields.length !== 3) throw new Error(`envVarTest line ${i + 1}: expected 3 fields`);
    const [platform, input, expected] = fields.map((f) => f.trim()) as [string, string, string];
    if (platform === 'A' || platform === 'U') out.push({ line: i + 1, input, expected });
  });
  return out;
}

interface WordsCase { line: number; input: string; expected: string[] | 'error'; env: string[] }

function wordsCases(): WordsCase[] {
  const out: WordsCase[] = [];
  const env: string[] = [];
  readFileSync(root + 'wordsTest', 'utf8').split('\n').forEach((raw, i) => {
    if (raw.startsWith('#') || raw === '') return;
    if (raw.startsWith('ENV ')) {
      const rest = raw.slice(4).replace(/^ +/, '');
      const eq = rest.indexOf('=');
      env.push(rest.slice(0, eq) + '=' + rest.slice(eq + 1));
      return;
    }
    const parts = raw.split('|');
    if (parts.length !== 2) throw new Error(`wordsTest line ${i + 1}: expected one |`);
    const input = parts[0]!.trim();
    const right = parts[1]!.replace(/^ +/, '');
    out.push({ line: i + 1, input, expected: right === 'error' ? 'error' : right.split(','), env: [...env] });
  });
  return out;
}

const vars = envLookup(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);

describe('buildkit-shell envVarTest (A and U lines)', () => {
  const cases = envVarCases();
  it('has the documented number of Linux cases', () => {
    expect(cases.length).toBe(228);
    expect(cases.filter((c) => c.expected === 'error').length).toBe(36);
  });
  it.each(cases.map((c) => [c.line, c.input, c.expected] as const))('line %i: %s', (_line, input, expected) => {
    const lex = new ShellLex();
    if (expected === 'error') {
      expect(() => lex.processWord(input, vars)).toThrow();
    } else {
      expect(lex.processWord(input, vars)).toBe(expected);
    }
  });
});

describe('buildkit-shell wordsTest', () => {
  const cases = wordsCases();
  it('has the documented number of cases', () => {
    expect(cases.length).toBe(24);
    expect(cases.filter((c) => c.expected === 'error').length).toBe(1);
  });
  it.each(cases.map((c) => [c.line, c.input, c] as const))('line %i: %s', (_line, input, c) => {
    const lex = new ShellLex();
    const env = envLookup(c.env);
    if (c.expected === 'error') {
      expect(() => lex.processWords(input, env)).toThrow();
    } else {
      expect(lex.processWords(input, env)).toEqual(c.expected);
    }
  });
});
