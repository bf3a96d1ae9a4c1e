import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectSources, type SourceSelection } from '../../../src/context/select.js';
import { DockerIgnoreMatcher, parseDockerignore } from '../../../src/context/dockerignore.js';
import { ContextError } from '../../../src/errors.js';

let tmp: string;
let ctx: string;
function put(rel: string, content = rel): void {
  mkdirSync(join(ctx, rel, '..'), { recursive: true });
  writeFileSync(join(ctx, rel), content);
}
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-select-'));
  ctx = join(tmp, 'ctx');
  mkdirSync(ctx);
  put('a.txt');
  put('b.txt');
  put('c.md');
  put('.hidden.txt');
  put('src/index.ts');
  put('src/lib/util.ts');
  put('docs/keep.md');
  put('docs/other.md');
  put('docs/sub/deep.md');
  mkdirSync(join(tmp, 'outside'));
  writeFileSync(join(tmp, 'outside/secret'), 'host secret');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const rels = (s: SourceSelection[]): string[][] => s.map((x) => x.matches.flatMap((m) => m.entries.map((e) => `${m.path}:${e.rel}:${e.type}`)));

async function sel(sources: string[], ignore?: string, extra: { allowWildcard?: boolean; followSymlinks?: boolean } = {}): Promise<SourceSelection[]> {
  return selectSources({
    root: ctx,
    sources,
    allowWildcard: extra.allowWildcard ?? true,
    followSymlinks: extra.followSymlinks ?? true,
    ...(ignore !== undefined ? { exclude: new DockerIgnoreMatcher(parseDockerignore(ignore)) } : {}),
  });
}

async function errorOf(p: Promise<unknown>): Promise<ContextError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ContextError);
    return e as ContextError;
  }
  throw new Error('expected an error');
}

describe('selectSources', () => {
  it('selects a file and a directory with everything below it, in walk order', async () => {
    expect(rels(await sel(['a.txt', 'src']))).toEqual([
      ['a.txt::file'],
      ['src::dir', 'src:index.ts:file', 'src:lib:dir', 'src:lib/util.ts:file'],
    ]);
  });

  it('expands Go filepath.Match wildcards, including dot files, without crossing /', async () => {
    const s = await sel(['*.txt']);
    expect(s[0]!.wildcard).toBe(true);
    expect(s[0]!.matches.map((m) => m.path)).toEqual(['.hidden.txt', 'a.txt', 'b.txt']);
    expect((await sel(['[ab].txt']))[0]!.matches.map((m) => m.path)).toEqual(['a.txt', 'b.txt']);
    expect((await sel(['s?c/*/*.ts']))[0]!.matches.map((m) => m.path)).toEqual(['src/lib/util.ts']);
    expect((await sel(['*.ts']).catch((e: ContextError) => e.code))).toBe('COPY_SOURCE_NOT_FOUND');
  });

  it('does not expand braces, and treats wildcards literally when not allowed', async () => {
    put('{a,b}.txt', 'brace');
    expect((await sel(['{a,b}.txt']))[0]!.matches.map((m) => m.path)).toEqual(['{a,b}.txt']);
    put('x*y', 'star');
    put('xAy', 'other');
    expect((await sel(['x*y'], undefined, { allowWildcard: false }))[0]!.matches.map((m) => m.path)).toEqual(['x*y']);
    expect((await sel(['x\\*y']))[0]!.matches.map((m) => m.path)).toEqual(['x*y']);
  });

  it('reports a missing source', async () => {
    const e = await errorOf(sel(['nope.txt']));
    expect(e.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(e.message).toContain('"nope.txt": not found in build context');
  });

  it('names the .dockerignore pattern that excludes a source', async () => {
    const e = await errorOf(sel(['c.md'], '*.md\n'));
    expect(e.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(e.message).toContain('excluded by .dockerignore pattern "*.md"');
    const e2 = await errorOf(sel(['src/lib/util.ts'], 'src\n'));
    expect(e2.message).toContain('excluded by .dockerignore pattern "src"');
  });

  it('skips excluded entries and wildcard matches', async () => {
    expect(rels(await sel(['src'], 'src/lib\n'))).toEqual([['src::dir', 'src:index.ts:file']]);
    expect((await sel(['*.txt'], 'a.txt\n'))[0]!.matches.map((m) => m.path)).toEqual(['.hidden.txt', 'b.txt']);
  });

  it('re-includes a file inside an excluded directory (docs + !docs/keep.md)', async () => {
    const ignore = 'docs\n!docs/keep.md\n';
    expect(rels(await sel(['docs'], ignore))).toEqual([['docs::dir', 'docs:keep.md:file']]);
    expect(rels(await sel(['.'], ignore))[0]).toContain(':docs/keep.md:file');
    expect(rels(await sel(['.'], ignore))[0]).not.toContain(':docs/other.md:file');
    expect(rels(await sel(['docs/keep.md'], ignore))).toEqual([['docs/keep.md::file']]);
    const e = await errorOf(sel(['docs/other.md'], ignore));
    expect(e.message).toContain('pattern "docs"');
  });

  it('never reads outside the root: .. is clamped and symlinks resolve inside it', async () => {
    expect(rels(await sel(['../ctx/../a.txt']))).toEqual([['a.txt::file']]);
    symlinkSync(join(tmp, 'outside'), join(ctx, 'out')); // absolute host path: means <ctx>/<tmp>/outside
    symlinkSync('../../outside/secret', join(ctx, 'src/up'));
    expect((await sel(['out/secret']).catch((e: ContextError) => e.code))).toBe('COPY_SOURCE_NOT_FOUND');
    expect((await sel(['src/up']).catch((e: ContextError) => e.code))).toBe('COPY_SOURCE_NOT_FOUND');
    writeFileSync(join(ctx, 'secret'), 'inside');
    symlinkSync('/secret', join(ctx, 'abs'));
    const s = await sel(['abs']);
    expect(s[0]!.matches[0]!.entries[0]!.hostPath).toBe(join(ctx, 'secret'));
  });

  it('follows a matched symlink only when asked, and keeps symlinks below a dir as links', async () => {
    symlinkSync('a.txt', join(ctx, 'link'));
    symlinkSync('../a.txt', join(ctx, 'src/alink'));
    expect(rels(await sel(['link']))).toEqual([['link::file']]);
    expect(rels(await sel(['link'], undefined, { followSymlinks: false }))).toEqual([['link::symlink']]);
    const s = await sel(['src']);
    const e = s[0]!.matches[0]!.entries.find((x) => x.rel === 'alink')!;
    expect(e.type).toBe('symlink');
    expect(e.linkTarget).toBe('../a.txt');
  });
});
