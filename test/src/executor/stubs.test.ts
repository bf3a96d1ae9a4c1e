import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStubs, ensureWorkdir, removeStubs } from '../../../src/executor/stubs.js';

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-stubs-'));
  root = join(dir, 'rootfs');
  await mkdir(root);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mtimeNs = async (p: string) => (await stat(p, { bigint: true })).mtimeNs;
const want = { files: ['/etc/hosts', '/etc/resolv.conf'], dirs: ['/proc', '/dev', '/sys'] };

describe('stubs', () => {
  it('creates missing mount points and removes exactly them', async () => {
    await mkdir(join(root, 'proc'));
    const rec = await createStubs(root, want);
    expect(rec.created.map((c) => c.path)).toEqual(['dev', 'sys', 'etc', 'etc/hosts', 'etc/resolv.conf']);
    expect((await readdir(root)).sort()).toEqual(['dev', 'etc', 'proc', 'sys']);
    await removeStubs(root, rec);
    expect(await readdir(root)).toEqual(['proc']);
  });

  for (const [what, t, ns] of [
    ['nanosecond', '@1000000000.123456789', 1000000000123456789n],
    ['whole-second', '@1000000000', 1000000000000000000n],
  ] as const) {
    it(`restores a ${what} mtime of an existing parent`, async () => {
      await mkdir(join(root, 'etc'));
      execFileSync('touch', ['-m', '-d', t, join(root, 'etc')]);
      const rec = await createStubs(root, { files: ['/etc/hosts'], dirs: [] });
      expect(await mtimeNs(join(root, 'etc'))).not.toBe(ns);
      await removeStubs(root, rec);
      expect(await mtimeNs(join(root, 'etc'))).toBe(ns);
    });
  }

  it('does not restore the mtime of a parent the step changed, and keeps its files', async () => {
    await mkdir(join(root, 'etc'));
    execFileSync('touch', ['-m', '-d', '@1000000000', join(root, 'etc')]);
    const rec = await createStubs(root, { files: ['/etc/hosts'], dirs: [] });
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(root, 'etc/new'), 'x');
    await removeStubs(root, rec);
    expect(await readdir(join(root, 'etc'))).toEqual(['new']);
    expect(await mtimeNs(join(root, 'etc'))).not.toBe(1000000000000000000n);
  });

  it('creates a stub behind a symlink inside the rootfs, never outside', async () => {
    await mkdir(join(root, 'etc'));
    await symlink('/../../outside/hosts', join(root, 'etc/hosts'));
    const rec = await createStubs(root, { files: ['/etc/hosts'], dirs: [] });
    expect(rec.created.map((c) => c.path)).toEqual(['outside', 'outside/hosts']);
    expect(await readdir(dir)).toEqual(['rootfs']);
    await removeStubs(root, rec);
    expect((await readdir(root)).sort()).toEqual(['etc']);
  });
});

describe('ensureWorkdir', () => {
  it('creates missing components owned by the user and leaves existing ones', async () => {
    await mkdir(join(root, 'app'));
    await ensureWorkdir(root, '/app/a/b', 1234, 4321);
    const a = await stat(join(root, 'app/a'));
    const b = await stat(join(root, 'app/a/b'));
    const app = await stat(join(root, 'app'));
    expect([a.uid, a.gid, b.uid, b.gid]).toEqual([1234, 4321, 1234, 4321]);
    expect([app.uid, app.gid]).toEqual([0, 0]);
  });

  it('follows symlinks inside the rootfs only', async () => {
    await symlink('/', join(root, 'up'));
    await ensureWorkdir(root, '/up/../../x', 0, 0);
    expect(await readdir(root)).toContain('x');
    expect(await readdir(dir)).toEqual(['rootfs']);
  });
});
