/** COPY --exclude, --parents, symbolic --chmod and ADD's archive unpacking, through copyFiles on real dirs. */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFiles, type CopyFilesOptions } from '../../../src/copy/copy.js';
import { parseModeSpec } from '../../../src/copy/chmod.js';
import { ContextError } from '../../../src/errors.js';

let tmp: string;
let ctx: string;
let dst: string;

function put(rel: string, content = rel, mode = 0o644): void {
  mkdirSync(join(ctx, rel, '..'), { recursive: true });
  writeFileSync(join(ctx, rel), content);
  chmodSync(join(ctx, rel), mode);
}
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-copyflags-'));
  ctx = join(tmp, 'ctx');
  dst = join(tmp, 'rootfs');
  mkdirSync(ctx);
  mkdirSync(dst);
  put('a.txt');
  put('b.md');
  put('run.sh', '#!/bin/sh\n', 0o755);
  put('src/main.go');
  put('src/main_test.go');
  put('src/README.md');
  put('src/tmp/junk.o');
  put('pkgs/a/package.json');
  put('pkgs/b/package.json');
  put('pkgs/b/index.js');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const copy = (o: Partial<CopyFilesOptions> & { src: string[]; dest: string }) =>
  copyFiles({ srcRoot: ctx, destRoot: dst, allowWildcard: true, followSymlinks: true, preserveOwnership: false, ...o });

function tree(dir = dst, rel = ''): string[] {
  const out: string[] = [];
  for (const name of (execFileSync('ls', ['-A', join(dir, rel)]).toString().split('\n').filter(Boolean)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (lstatSync(join(dir, r)).isDirectory()) out.push(`${r}/`, ...tree(dir, r));
    else out.push(r);
  }
  return out;
}

describe('COPY --exclude', () => {
  it('leaves out matches below a copied directory, and whole subtrees', async () => {
    await copy({ src: ['src'], dest: '/app/', excludePatterns: ['*_test.go', '*.md', 'tmp'] });
    expect(tree()).toEqual(['app/', 'app/main.go']);
  });

  it('leaves out wildcard matches themselves; a source left with nothing copies nothing', async () => {
    await copy({ src: ['*.txt', '*.md', 'run.sh'], dest: '/d/', excludePatterns: ['*.md'] });
    expect(tree()).toEqual(['d/', 'd/a.txt', 'd/run.sh']);
    await copy({ src: ['b.md'], dest: '/x', excludePatterns: ['*.md'] });
    expect(existsSync(join(dst, 'x'))).toBe(false);
    // A source that does not exist at all is still an error.
    const err = await copy({ src: ['nope.md'], dest: '/x', excludePatterns: ['*.md'] }).catch((e: unknown) => e);
    expect((err as ContextError).code).toBe('COPY_SOURCE_NOT_FOUND');
  });

  it('supports ** and ! re-includes like .dockerignore', async () => {
    await copy({ src: ['.'], dest: '/all/', excludePatterns: ['**/*.json', '**/*.md', '!src/README.md', 'src/tmp'] });
    expect(tree()).toEqual([
      'all/', 'all/a.txt', 'all/pkgs/', 'all/pkgs/a/', 'all/pkgs/b/', 'all/pkgs/b/index.js', 'all/run.sh',
      'all/src/', 'all/src/README.md', 'all/src/main.go', 'all/src/main_test.go',
    ]);
  });
});

describe('COPY --parents', () => {
  it('keeps each match’s path below the destination', async () => {
    await copy({ src: ['pkgs/*/package.json', 'a.txt'], dest: '/app/', parents: true });
    expect(tree()).toEqual(['app/', 'app/a.txt', 'app/pkgs/', 'app/pkgs/a/', 'app/pkgs/a/package.json', 'app/pkgs/b/', 'app/pkgs/b/package.json']);
  });

  it('drops what comes before a /./ pivot', async () => {
    await copy({ src: ['./pkgs/./*/package.json'], dest: '/p/', parents: true });
    expect(tree()).toEqual(['p/', 'p/a/', 'p/a/package.json', 'p/b/', 'p/b/package.json']);
  });

  it('copies a directory match to dest/<its path>/ with its contents', async () => {
    await copy({ src: ['src/tmp'], dest: '/d', parents: true });
    expect(tree()).toEqual(['d/', 'd/src/', 'd/src/tmp/', 'd/src/tmp/junk.o']);
  });
});

describe('symbolic --chmod', () => {
  it('changes each entry from its own mode; X only where it applies', async () => {
    await copy({ src: ['a.txt', 'run.sh', 'src'], dest: '/m/', chmod: parseModeSpec('go-r,a+X') });
    expect(lstatSync(join(dst, 'm/a.txt')).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(dst, 'm/run.sh')).mode & 0o7777).toBe(0o711);
    expect(lstatSync(join(dst, 'm/tmp')).mode & 0o7777).toBe(0o711);
  });
});

describe('ADD unpack', () => {
  it('extracts a local tar.xz into the destination directory, and copies a non-archive as a file', async () => {
    execFileSync('tar', ['-cJf', join(ctx, 'bundle.tar.xz'), '-C', join(ctx, 'src'), 'main.go', 'tmp']);
    put('fake.tar.gz', 'not really an archive');
    await copy({ src: ['bundle.tar.xz'], dest: '/opt/b', unpack: true });
    await copy({ src: ['fake.tar.gz'], dest: '/opt/', unpack: true });
    expect(tree()).toEqual(['opt/', 'opt/b/', 'opt/b/main.go', 'opt/b/tmp/', 'opt/b/tmp/junk.o', 'opt/fake.tar.gz']);
    expect(readFileSync(join(dst, 'opt/b/main.go'), 'utf8')).toBe('src/main.go');
  });

  it('copies the archive itself when unpack is off (COPY)', async () => {
    execFileSync('tar', ['-czf', join(ctx, 'x.tgz'), '-C', ctx, 'a.txt']);
    await copy({ src: ['x.tgz'], dest: '/c/' });
    expect(existsSync(join(dst, 'c/x.tgz'))).toBe(true);
  });
});
