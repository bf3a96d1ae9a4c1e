/**
 * src/copy/incremental.ts on plain directories. A copy into a rootfs without a parent snapshot is exactly
 * this case (the snapshot's own dir is the rootfs); the overlay cases are covered end to end in
 * test/e2e/incremental-copy.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumSelectionDetailed, type SelectionFile } from '../../../src/context/checksum.js';
import { selectSources } from '../../../src/context/select.js';
import { copyFiles } from '../../../src/copy/copy.js';
import { mirrorTree, planReuse, removeStale, reuseHooks, rowsByPath } from '../../../src/copy/incremental.js';
import { contextWriter } from './context-files.js';

let tmp: string;
let ctx: string;
const OLD = new Date('2015-01-02T03:04:05Z');

const put = contextWriter(() => ctx, OLD);

beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-inccopy-'));
  ctx = join(tmp, 'ctx');
  mkdirSync(ctx);
  put('src/a.txt', 'A');
  put('src/sub/b.txt', 'B');
  put('src/sub/c.txt', 'C', 0o600);
  put('src/gone/d.txt', 'D');
  symlinkSync('a.txt', join(ctx, 'src/link'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function select(src = 'src') {
  const selection = await selectSources({ root: ctx, sources: [src], allowWildcard: true, followSymlinks: false });
  const collect: SelectionFile[] = [];
  await checksumSelectionDetailed(selection, { collect });
  return { selection, rows: rowsByPath(collect)! };
}

/** path → type, mode, owner, mtime, content. */
function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const what = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isSymbolicLink() ? readlinkSync(p) : '';
      out[`${rel}${name}`] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${Math.round(st.mtimeMs)} ${what}`;
      if (st.isDirectory()) walk(p, `${rel}${name}/`);
    }
  };
  walk(root, '');
  return out;
}

function copyInto(root: string, selection: Awaited<ReturnType<typeof select>>['selection'], reuse?: Parameters<typeof copyFiles>[0]['reuse']) {
  mkdirSync(root, { recursive: true });
  return copyFiles({ srcRoot: ctx, destRoot: root, src: ['src'], dest: '/app/', allowWildcard: true, followSymlinks: false, preserveOwnership: false, selection, ...(reuse ? { reuse } : {}) });
}

describe('rowsByPath', () => {
  it('refuses a selection where a path repeats', () => {
    expect(rowsByPath([['a', 'f', 0o644, 'x'], ['a', 'f', 0o644, 'y']])).toBeUndefined();
    expect(rowsByPath([['a', 'f', 0o644, 'x']])?.get('a')).toEqual(['a', 'f', 0o644, 'x']);
  });
});

describe('planReuse', () => {
  it('lists removed and retyped paths (outermost only) and what existed before', async () => {
    const old = await select();
    rmSync(join(ctx, 'src/gone'), { recursive: true });
    rmSync(join(ctx, 'src/sub/c.txt'));
    mkdirSync(join(ctx, 'src/sub/c.txt'));
    put('src/sub/c.txt/inner', 'I');
    const cur = await select();
    const lower = join(tmp, 'lower');
    mkdirSync(lower);
    const plan = planReuse({ lowerRoot: lower, selection: cur.selection, dest: '/app/', oldRows: old.rows, newRows: cur.rows });
    expect(plan).toEqual({ destRel: 'app', destExisted: true, stale: ['gone', 'sub/c.txt'] });
    // not named as a directory and missing in the parent: the copy makes it
    expect(planReuse({ lowerRoot: lower, selection: cur.selection, dest: '/app', oldRows: old.rows, newRows: cur.rows })?.destExisted).toBe(false);
  });

  it('without the parent: a plan when nothing is stale and the destination is named as a directory, else "parent"', async () => {
    const old = await select();
    expect(planReuse({ selection: old.selection, dest: '/app/', oldRows: old.rows, newRows: old.rows })).toEqual({ destExisted: true, stale: [] });
    expect(planReuse({ selection: old.selection, dest: '/app', oldRows: old.rows, newRows: old.rows })).toBe('parent');
    rmSync(join(ctx, 'src/gone'), { recursive: true });
    const cur = await select();
    expect(planReuse({ selection: cur.selection, dest: '/app/', oldRows: old.rows, newRows: cur.rows })).toBe('parent');
  });

  it('gives up when the parent has a stale path, has a symlink where a directory goes, or the match changed', async () => {
    const old = await select();
    rmSync(join(ctx, 'src/gone'), { recursive: true });
    const cur = await select();
    const lower = join(tmp, 'lower');
    mkdirSync(join(lower, 'app/gone'), { recursive: true });
    expect(planReuse({ lowerRoot: lower, selection: cur.selection, dest: '/app/', oldRows: old.rows, newRows: cur.rows })).toBeUndefined();
    rmSync(join(lower, 'app/gone'), { recursive: true });
    symlinkSync('/tmp', join(lower, 'app/sub'));
    expect(planReuse({ lowerRoot: lower, selection: cur.selection, dest: '/app/', oldRows: old.rows, newRows: cur.rows })).toBeUndefined();
    rmSync(join(lower, 'app/sub'));
    expect(planReuse({ lowerRoot: lower, selection: cur.selection, dest: '/app/', oldRows: old.rows, newRows: cur.rows })).toBeDefined();
    // a wildcard, or a match whose type changed
    const wild = await select('sr*');
    expect(planReuse({ lowerRoot: lower, selection: wild.selection, dest: '/app/', oldRows: old.rows, newRows: wild.rows })).toBeUndefined();
    const file = await select('src/a.txt');
    const asDir = new Map(file.rows);
    asDir.set('src/a.txt', ['src/a.txt', 'd', 0o755, '']);
    expect(planReuse({ lowerRoot: lower, selection: file.selection, dest: '/app/', oldRows: asDir, newRows: file.rows })).toBeUndefined();
    expect(planReuse({ lowerRoot: lower, selection: file.selection, dest: '/app/', oldRows: file.rows, newRows: file.rows })).toEqual({ destExisted: false, stale: [] });
  });
});

describe('mirrorTree and removeStale', () => {
  it('hard-links files and symlinks, recreates directories with their metadata; removeStale never follows a symlink', async () => {
    const from = join(tmp, 'from');
    const to = join(tmp, 'to');
    mkdirSync(to);
    const { selection } = await select();
    await copyInto(from, selection);
    chmodSync(join(from, 'app/sub'), 0o750);
    await mirrorTree(from, to);
    expect(describeTree(to)).toEqual(describeTree(from));
    expect(lstatSync(join(to, 'app/a.txt')).ino).toBe(lstatSync(join(from, 'app/a.txt')).ino);
    expect(lstatSync(join(to, 'app/sub')).ino).not.toBe(lstatSync(join(from, 'app/sub')).ino);
    removeStale(to, { destRel: 'app', destExisted: true, stale: ['gone', 'missing/x'] });
    expect(readdirSync(join(to, 'app')).sort()).toEqual(['a.txt', 'link', 'sub']);
    expect(readdirSync(join(from, 'app')).sort()).toEqual(['a.txt', 'gone', 'link', 'sub']);
    rmSync(join(to, 'app/sub'), { recursive: true });
    symlinkSync(join(from, 'app/gone'), join(to, 'app/sub'));
    expect(() => removeStale(to, { destRel: 'app', destExisted: true, stale: ['sub/d.txt'] })).toThrow(/not a plain directory/);
    expect(readdirSync(join(from, 'app/gone'))).toEqual(['d.txt']);
  });
});

describe('copyFiles with reuse hooks', () => {
  it('gives the tree a copy from scratch gives, keeps unchanged files (shared), never changes the earlier result', async () => {
    const first = await select();
    const oldRoot = join(tmp, 'old');
    await copyInto(oldRoot, first.selection);
    const oldState = describeTree(oldRoot);

    put('src/a.txt', 'A changed'); // content
    chmodSync(join(ctx, 'src/sub/c.txt'), 0o640); // mode only
    put('src/new/e.txt', 'E'); // added
    rmSync(join(ctx, 'src/gone'), { recursive: true }); // removed
    rmSync(join(ctx, 'src/link'));
    symlinkSync('sub/b.txt', join(ctx, 'src/link')); // link target
    const cur = await select();

    const upper = join(tmp, 'new');
    mkdirSync(upper);
    const plan = planReuse({ lowerRoot: join(tmp, 'empty-parent'), selection: cur.selection, dest: '/app/', oldRows: first.rows, newRows: cur.rows })!;
    expect(plan.stale).toEqual(['gone']);
    await mirrorTree(oldRoot, upper);
    removeStale(upper, plan);
    const hooks = reuseHooks({ rootfs: upper, upper, plan, oldRows: first.rows, newRows: cur.rows });
    await copyInto(upper, cur.selection, hooks);
    expect(hooks.kept).toBe(1); // sub/b.txt
    expect(lstatSync(join(upper, 'app/sub/b.txt')).nlink).toBe(2);
    expect(lstatSync(join(upper, 'app/a.txt')).nlink).toBe(1);

    const scratch = join(tmp, 'scratch');
    await copyInto(scratch, cur.selection);
    const strip = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, k === 'app' ? v.replace(/ \d+ /, ' ') : v]));
    expect(strip(describeTree(upper))).toEqual(strip(describeTree(scratch)));
    expect(describeTree(oldRoot)).toEqual(oldState);
  });

  it('an mtime-only change, an owner change or a content change with the same mtime is copied again', async () => {
    const first = await select();
    const oldRoot = join(tmp, 'old');
    await copyInto(oldRoot, first.selection);
    put('src/a.txt', 'Z'); // same size, same mtime, other content
    utimesSync(join(ctx, 'src/sub/b.txt'), new Date('2016-01-01'), new Date('2016-01-01'));
    const cur = await select();
    const upper = join(tmp, 'new');
    mkdirSync(upper);
    const plan = planReuse({ lowerRoot: join(tmp, 'empty-parent'), selection: cur.selection, dest: '/app/', oldRows: first.rows, newRows: cur.rows })!;
    await mirrorTree(oldRoot, upper);
    removeStale(upper, plan);
    const hooks = reuseHooks({ rootfs: upper, upper, plan, oldRows: first.rows, newRows: cur.rows });
    const e = cur.selection[0]!.matches[0]!.entries.find((x) => x.rel === 'sub/c.txt')!;
    const at = join(upper, 'app/sub/c.txt');
    expect(hooks.keep(at, e, 'src', { mode: 0o600, uid: 0, gid: 0 })).toBe(true);
    expect(hooks.keep(at, e, 'src', { mode: 0o600, uid: 1, gid: 0 })).toBe(false);
    expect(hooks.keep(at, e, 'src', { mode: 0o644, uid: 0, gid: 0 })).toBe(false);
    await copyInto(upper, cur.selection, hooks);
    expect(readFileSync(join(upper, 'app/a.txt'), 'utf8')).toBe('Z');
    expect(readFileSync(join(oldRoot, 'app/a.txt'), 'utf8')).toBe('A');
    expect(Math.round(lstatSync(join(upper, 'app/sub/b.txt')).mtimeMs)).toBe(new Date('2016-01-01').getTime());
    expect(Math.round(lstatSync(join(oldRoot, 'app/sub/b.txt')).mtimeMs)).toBe(OLD.getTime());
  });
});
