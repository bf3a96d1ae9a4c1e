/**
 * The travelling memo's facts (src/cli/travel-memo.ts): the context digest holds across checkouts (another
 * path, other mtimes) and moves with content, modes, entries and link targets; it never reads through a
 * symlink or outside the context; a memo from a registry is checked field by field. Randomised: a sequence
 * of edits to a tree, each one's digest compared with a fresh copy's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextDigest, parseTravelMemo, safeRelativePath } from '../../../src/cli/travel-memo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tree(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsb-travel-memo-'));
  dirs.push(d);
  mkdirSync(join(d, 'ctx', 'src', 'a'), { recursive: true });
  writeFileSync(join(d, 'ctx', 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(d, 'ctx', 'src', 'a', 'one.txt'), 'one\n');
  writeFileSync(join(d, 'ctx', 'src', 'two.txt'), 'two\n');
  symlinkSync('a/one.txt', join(d, 'ctx', 'src', 'link'));
  return d;
}
const PATHS = ['', 'src', 'src/a', 'src/a/one.txt', 'src/two.txt', 'src/link', 'src/missing'];

describe('contextDigest', () => {
  it('is the same for a copy at another path with other mtimes, and moves with content, mode, entries and link targets', () => {
    const a = tree();
    const ctx = join(a, 'ctx');
    const d0 = contextDigest(ctx, PATHS)!;
    expect(d0).toMatch(/^[0-9a-f]{64}$/);
    const b = tree();
    utimesSync(join(b, 'ctx', 'src', 'two.txt'), 1, 1);
    expect(contextDigest(join(b, 'ctx'), PATHS)).toBe(d0);
    const edits: [string, () => void, () => void][] = [
      ['content', () => writeFileSync(join(ctx, 'src', 'two.txt'), 'TWO\n'), () => writeFileSync(join(ctx, 'src', 'two.txt'), 'two\n')],
      ['mode', () => chmodSync(join(ctx, 'src', 'two.txt'), 0o755), () => chmodSync(join(ctx, 'src', 'two.txt'), 0o644)],
      ['an entry added', () => writeFileSync(join(ctx, 'src', 'a', 'new'), ''), () => unlinkSync(join(ctx, 'src', 'a', 'new'))],
      ['an absent path appears', () => writeFileSync(join(ctx, 'src', 'missing'), ''), () => unlinkSync(join(ctx, 'src', 'missing'))],
      ['a link re-pointed', () => (unlinkSync(join(ctx, 'src', 'link')), symlinkSync('two.txt', join(ctx, 'src', 'link'))), () => (unlinkSync(join(ctx, 'src', 'link')), symlinkSync('a/one.txt', join(ctx, 'src', 'link')))],
    ];
    for (const [what, edit, undo] of edits) {
      edit();
      expect(contextDigest(ctx, PATHS), what).not.toBe(d0);
      undo();
      expect(contextDigest(ctx, PATHS), `${what} undone`).toBe(d0);
    }
  });

  it('never reads through a symlinked directory (the outside file may change: the digest does not)', () => {
    const d = tree();
    mkdirSync(join(d, 'outside'));
    writeFileSync(join(d, 'outside', 'secret'), 'one');
    symlinkSync(join(d, 'outside'), join(d, 'ctx', 'out'));
    const paths = ['out', 'out/secret'];
    const before = contextDigest(join(d, 'ctx'), paths);
    writeFileSync(join(d, 'outside', 'secret'), 'two');
    expect(contextDigest(join(d, 'ctx'), paths)).toBe(before);
    expect(contextDigest(join(d, 'ctx'), ['../outside/secret'])).toBeUndefined();
    expect(contextDigest(join(d, 'ctx'), ['/etc/passwd'])).toBeUndefined();
  });

  it('randomised edits: the digest of an edited tree is a fresh copy\'s, and differs from the last one exactly when something changed', () => {
    const d = tree();
    const ctx = join(d, 'ctx');
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const names = ['src/a/one.txt', 'src/two.txt', 'src/a/x', 'src/y'];
    const paths = ['', 'src', 'src/a', ...names];
    const model = new Map<string, string>([['src/a/one.txt', 'one\n'], ['src/two.txt', 'two\n']]);
    let last = contextDigest(ctx, paths);
    for (let i = 0; i < 60; i++) {
      const name = names[rnd(names.length)]!;
      const f = join(ctx, name);
      const before = JSON.stringify([...model].sort());
      const op = rnd(3);
      if (op === 0) {
        const v = String(rnd(3));
        writeFileSync(f, v);
        model.set(name, v);
      } else if (op === 1) {
        rmSync(f, { force: true });
        model.delete(name);
      } else {
        const v = String(rnd(3));
        writeFileSync(f, v, { flag: 'a' });
        model.set(name, (model.get(name) ?? '') + v);
      }
      const now = contextDigest(ctx, paths);
      expect(now !== last, `step ${i}`).toBe(JSON.stringify([...model].sort()) !== before);
      const copy = join(d, `copy-${i}`);
      cpSync(ctx, copy, { recursive: true, verbatimSymlinks: true });
      expect(contextDigest(copy, paths), `copy ${i}`).toBe(now);
      rmSync(copy, { recursive: true });
      last = now;
    }
  });
});

it('safeRelativePath: relative, /-separated, no . or .. or empty segments, no NUL or backslash', () => {
  for (const ok of ['', 'a', 'a/b', 'a.b/c-d', '..a', 'a..']) expect(safeRelativePath(ok), ok).toBe(true);
  for (const bad of ['/a', '../a', 'a/../b', 'a/./b', 'a//b', 'a/', '.', '..', 'a\0b', 'a\\b', 7, null]) expect(safeRelativePath(bad), String(bad)).toBe(false);
});

describe('parseTravelMemo (untrusted input)', () => {
  const good = () => ({
    version: 1,
    key: 'a'.repeat(64),
    inputs: [{ path: 'Dockerfile', sha256: 'b'.repeat(64) }, { path: 'Dockerfile.dockerignore', sha256: null }, { path: '.dockerignore', sha256: null }],
    paths: ['', 'src'],
    context: 'c'.repeat(64),
    names: [['docker.io/library/busybox:latest', `sha256:${'d'.repeat(64)}`]],
    tags: [{ name: 'r:5000/base:1', domain: 'r:5000', path: 'base', tag: '1', digest: `sha256:${'e'.repeat(64)}`, base: 'http://r:5000' }],
    image: { manifest: '{}', config: '{}' },
    pushed: [{ domain: 'r:5000', path: 'app/img' }],
    cache: { mode: 'max', attrs: {} },
    script: [{ type: 'vertex.cached', id: 'v1', name: '[1/2] COPY \u001b[31mred', at: 0 }],
  });
  it('accepts a well-formed memo, and prints step names without control characters', () => {
    const m = parseTravelMemo(good());
    expect('none' in m).toBe(false);
    expect(JSON.stringify(m)).not.toMatch(/\\u001b/);
  });
  it('refuses every malformed field', () => {
    const cases: [string, (m: Record<string, any>) => void][] = [
      ['version', (m) => (m.version = 2)],
      ['key', (m) => (m.key = 'x')],
      ['input path', (m) => (m.inputs[0].path = '../Dockerfile')],
      ['context path', (m) => m.paths.push('a/../../b')],
      ['name digest', (m) => (m.names[0][1] = 'sha256:zz')],
      ['tag repository', (m) => (m.tags[0].path = '../../v2/_catalog')],
      ['tag', (m) => (m.tags[0].tag = 'a/b')],
      ['pushed repository', (m) => (m.pushed[0].path = 'App')],
      ['image', (m) => (m.image.manifest = 5)],
      ['cache mode', (m) => (m.cache.mode = 'all')],
      ['script event', (m) => m.script.push({ type: 'vertex.log', id: 'x', stream: 'stdout', data: 'x' })],
      ['not an object', (m) => Object.keys(m).forEach((k) => delete m[k])],
    ];
    for (const [what, edit] of cases) {
      const m = good();
      edit(m);
      expect('none' in parseTravelMemo(m), what).toBe(true);
    }
    expect('none' in parseTravelMemo(null)).toBe(true);
    expect('none' in parseTravelMemo([])).toBe(true);
  });
});
