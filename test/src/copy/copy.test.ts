import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  chmodSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyFiles, parseChmod, type CopyFilesOptions } from '../../../src/copy/copy.js';
import { DockerIgnoreMatcher, parseDockerignore } from '../../../src/context/dockerignore.js';
import { ContextError } from '../../../src/errors.js';
import { contextWriter } from './context-files.js';

let tmp: string;
let ctx: string;
let dst: string;
const OLD = new Date('2010-05-06T07:08:09Z');

const put = contextWriter(() => ctx, OLD);
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-copy-'));
  ctx = join(tmp, 'ctx');
  dst = join(tmp, 'rootfs');
  mkdirSync(ctx);
  mkdirSync(join(dst, 'etc'), { recursive: true });
  put('a.txt', 'A');
  put('b.txt', 'B');
  put('run.sh', '#!/bin/sh\n', 0o755);
  put('src/index.ts', 'index');
  put('src/lib/util.ts', 'util');
  chmodSync(join(ctx, 'src'), 0o750);
  symlinkSync('lib/util.ts', join(ctx, 'src/u.ts'));
  put('docs/keep.md');
  put('docs/other.md');
  mkdirSync(join(tmp, 'hostetc'));
  writeFileSync(join(tmp, 'hostetc/passwd'), 'HOST');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function copy(o: Partial<CopyFilesOptions> & { src: string[]; dest: string }): Promise<void> {
  return copyFiles({ srcRoot: ctx, destRoot: dst, allowWildcard: true, followSymlinks: true, preserveOwnership: false, ...o });
}
const read = (p: string): string => readFileSync(join(dst, p), 'utf8');
async function errorOf(p: Promise<unknown>): Promise<ContextError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ContextError);
    return e as ContextError;
  }
  throw new Error('expected an error');
}

describe('copyFiles', () => {
  it('copies a file to a new path, creating parents 0755 root-owned, keeping mode and mtime', async () => {
    await copy({ src: ['run.sh'], dest: '/opt/tools/start' });
    expect(read('opt/tools/start')).toBe('#!/bin/sh\n');
    const st = lstatSync(join(dst, 'opt/tools/start'));
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.mtime.getTime()).toBe(OLD.getTime());
    expect(st.uid).toBe(0);
    const parent = lstatSync(join(dst, 'opt/tools'));
    expect(parent.isDirectory()).toBe(true);
    expect(parent.mode & 0o7777).toBe(0o755);
  });

  it('puts a file into a dest ending in / or an existing directory', async () => {
    await copy({ src: ['a.txt'], dest: '/app/' });
    expect(read('app/a.txt')).toBe('A');
    await copy({ src: ['b.txt'], dest: '/app' });
    expect(read('app/b.txt')).toBe('B');
  });

  it('copies the contents of a directory source, with symlinks as symlinks', async () => {
    await copy({ src: ['src'], dest: '/app' });
    expect(readdirSync(join(dst, 'app')).sort()).toEqual(['index.ts', 'lib', 'u.ts']);
    expect(read('app/lib/util.ts')).toBe('util');
    expect(readlinkSync(join(dst, 'app/u.ts'))).toBe('lib/util.ts');
    // As BuildKit: a missing dest is made like any missing parent (0755, root), not with the source dir's 0750.
    expect(lstatSync(join(dst, 'app')).mode & 0o7777).toBe(0o755);
    await copy({ src: ['src'], dest: '/existing/' });
    expect(lstatSync(join(dst, 'existing')).mode & 0o7777).toBe(0o755); // dest made first: not the source's
    expect(read('existing/index.ts')).toBe('index');
  });

  it('copies everything with "." and applies .dockerignore, re-including docs/keep.md', async () => {
    const exclude = new DockerIgnoreMatcher(parseDockerignore('docs\n!docs/keep.md\n*.sh\n'));
    await copy({ src: ['.'], dest: '/app/', exclude });
    expect(readdirSync(join(dst, 'app')).sort()).toEqual(['a.txt', 'b.txt', 'docs', 'src']);
    expect(readdirSync(join(dst, 'app/docs'))).toEqual(['keep.md']);
  });

  it('names the .dockerignore pattern when a source is excluded', async () => {
    const exclude = new DockerIgnoreMatcher(parseDockerignore('*.txt\n'));
    const e = await errorOf(copy({ src: ['a.txt'], dest: '/x', exclude }));
    expect(e.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(e.message).toBe('"a.txt": not found in build context: excluded by .dockerignore pattern "*.txt"');
  });

  it('needs a directory destination for several sources or a multi-match wildcard', async () => {
    const e = await errorOf(copy({ src: ['a.txt', 'b.txt'], dest: '/multi' }));
    expect(e.message).toContain('When using COPY with more than one source file, the destination must be a directory and end with a /');
    const e2 = await errorOf(copy({ src: ['*.txt'], dest: '/multi' }));
    expect(e2.code).toBe('COPY_DEST_NOT_DIR');
    expect(existsSync(join(dst, 'multi'))).toBe(false);
    await copy({ src: ['*.txt'], dest: '/multi/' });
    expect(readdirSync(join(dst, 'multi')).sort()).toEqual(['a.txt', 'b.txt']);
    await copy({ src: ['a.txt', 'run.sh'], dest: '/multi' }); // an existing directory is fine too
    expect(read('multi/run.sh')).toBe('#!/bin/sh\n');
    await copy({ src: ['a*.txt'], dest: '/single' }); // a wildcard with one match copies to the name
    expect(read('single')).toBe('A');
  });

  it('follows a top-level symlink source within the context', async () => {
    symlinkSync('/a.txt', join(ctx, 'alias'));
    await copy({ src: ['alias'], dest: '/d/' });
    expect(lstatSync(join(dst, 'd/alias')).isFile()).toBe(true);
    expect(read('d/alias')).toBe('A');
    await copy({ src: ['alias'], dest: '/e/', followSymlinks: false });
    expect(readlinkSync(join(dst, 'e/alias'))).toBe('/a.txt');
  });

  it('never writes outside destRoot through hostile symlinks in the rootfs', async () => {
    symlinkSync(join(tmp, 'hostetc'), join(dst, 'app')); // host path as an absolute target
    await copy({ src: ['a.txt'], dest: '/app/passwd' });
    expect(readFileSync(join(tmp, 'hostetc/passwd'), 'utf8')).toBe('HOST');
    expect(readFileSync(join(dst, tmp.slice(1), 'hostetc/passwd'), 'utf8')).toBe('A');

    symlinkSync('../../../../../../../../../etc', join(dst, 'etc2'));
    await copy({ src: ['src'], dest: '/etc2/x/' });
    expect(read('etc/x/index.ts')).toBe('index');

    // a dangling link to a deep path: the directory is created where it points, inside the rootfs
    symlinkSync(join(tmp, 'nowhere/deep'), join(dst, 'dangle'));
    await copy({ src: ['src'], dest: '/dangle' });
    expect(readFileSync(join(dst, tmp.slice(1), 'nowhere/deep/index.ts'), 'utf8')).toBe('index');
    expect(existsSync(join(tmp, 'nowhere'))).toBe(false);

    // a symlink sitting at the destination file path is replaced, not written through
    symlinkSync(join(tmp, 'hostetc/passwd'), join(dst, 'etc/shadow'));
    await copy({ src: ['b.txt'], dest: '/etc/shadow' });
    expect(readFileSync(join(tmp, 'hostetc/passwd'), 'utf8')).toBe('HOST');
    expect(lstatSync(join(dst, 'etc/shadow')).isFile()).toBe(true);
    expect(read('etc/shadow')).toBe('B');
  });

  it('never reads outside srcRoot', async () => {
    symlinkSync(join(tmp, 'hostetc'), join(ctx, 'leak'));
    symlinkSync('../hostetc/passwd', join(ctx, 'leak2'));
    expect((await errorOf(copy({ src: ['leak/passwd'], dest: '/x' }))).code).toBe('COPY_SOURCE_NOT_FOUND');
    expect((await errorOf(copy({ src: ['leak2'], dest: '/x' }))).code).toBe('COPY_SOURCE_NOT_FOUND');
    expect((await errorOf(copy({ src: ['../hostetc/passwd'], dest: '/x' }))).code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(existsSync(join(dst, 'x'))).toBe(false);
  });

  it('replaces an existing file, and puts a file inside an existing directory', async () => {
    writeFileSync(join(dst, 'etc/conf'), 'old contents that are longer');
    await copy({ src: ['a.txt'], dest: '/etc/conf' });
    expect(read('etc/conf')).toBe('A');
    mkdirSync(join(dst, 'etc/dir'));
    await copy({ src: ['a.txt'], dest: '/etc/dir' });
    expect(read('etc/dir/a.txt')).toBe('A');
  });

  it('sets ownership: chown, else preserved for stage copies, else 0:0', async () => {
    lchownSync(join(ctx, 'src/index.ts'), 1500, 1600);
    await copy({ src: ['src'], dest: '/own/chown/', chown: { uid: 1000, gid: 1001 } });
    for (const p of ['own/chown', 'own/chown/index.ts', 'own/chown/lib', 'own/chown/u.ts']) {
      const st = lstatSync(join(dst, p));
      expect([p, st.uid, st.gid]).toEqual([p, 1000, 1001]);
    }
    expect(lstatSync(join(dst, 'own')).uid).toBe(1000); // created parent
    await copy({ src: ['src'], dest: '/own/keep/', preserveOwnership: true });
    expect(lstatSync(join(dst, 'own/keep/index.ts')).uid).toBe(1500);
    expect(lstatSync(join(dst, 'own/keep/index.ts')).gid).toBe(1600);
    await copy({ src: ['src'], dest: '/own/ctx/' });
    expect(lstatSync(join(dst, 'own/ctx/index.ts')).uid).toBe(0);
  });

  it('applies --chmod to files and directories', async () => {
    await copy({ src: ['src'], dest: '/m/', chmod: parseChmod('700') });
    expect(lstatSync(join(dst, 'm/index.ts')).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(dst, 'm/lib')).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(dst, 'm/u.ts')).isSymbolicLink()).toBe(true);
  });

  it('applies --chmod to what a directory source holds, not to the destination dir it creates (BuildKit: 0755)', async () => {
    await copy({ src: ['src'], dest: '/conf', chmod: parseChmod('750') });
    expect(lstatSync(join(dst, 'conf')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(dst, 'conf/lib')).mode & 0o7777).toBe(0o750);
    expect(lstatSync(join(dst, 'conf/index.ts')).mode & 0o7777).toBe(0o750);
  });

  it('keeps directory mtimes after writing their contents', async () => {
    utimesSync(join(ctx, 'src/lib'), OLD, OLD);
    await copy({ src: ['src'], dest: '/t/' });
    expect(lstatSync(join(dst, 't/lib')).mtime.getTime()).toBe(OLD.getTime());
  });
});

describe('parseChmod', () => {
  it('parses octal and rejects the rest', () => {
    expect(parseChmod('755')).toBe(0o755);
    expect(parseChmod('0644')).toBe(0o644);
    for (const bad of ['u+x', '999', '', '12345', 'rwx']) {
      expect(() => parseChmod(bad)).toThrow(ContextError);
    }
    try {
      parseChmod('u+x');
    } catch (e) {
      expect((e as ContextError).code).toBe('BAD_CHMOD');
    }
  });
});
