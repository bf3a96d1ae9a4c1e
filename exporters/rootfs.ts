/**
 * The final rootfs of a build, read-only: a view of BuildResult.snapshot mounted on a temp dir under
 * ExportContext.mountsDir (named `export-<pid>-…`, so crash recovery unmounts a dead build's), or an
 * empty dir when the rootfs is empty (FROM scratch, nothing added).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsbuildError } from '../src/errors.js';
import type { BuildResult } from '../src/llb/result.js';
import { withMounts } from '../src/snapshot/mount.js';
import type { ExportContext } from './types.js';

/**
 * Several rootfs side by side (a multi-platform type=tar): `DIR/<name>/` is each result's read-only view, mounted
 * on a dir made under the same temp dir (same naming, so crash recovery unmounts a dead build's).
 */
export async function withRootfsTree<T>(items: { name: string; result: BuildResult }[], ctx: ExportContext, fn: (dir: string) => Promise<T>): Promise<T> {
  const base = ctx.mountsDir ?? tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, `export-${process.pid}-`));
  const mountAll = async (i: number): Promise<T> => {
    if (i === items.length) return fn(dir);
    const { name, result } = items[i]!;
    const target = join(dir, name);
    await mkdir(target);
    try {
      if (result.snapshot === null) return await mountAll(i + 1);
      if (!ctx.snapshotter) throw new TsbuildError('EXPORT_FAILED', 'this output needs the rootfs, but no snapshotter was given to the exporter');
      const key = `export-view:${process.pid}:${randomBytes(6).toString('hex')}`;
      const mounts = await ctx.snapshotter.view(key, result.snapshot);
      try {
        return await withMounts(mounts, target, () => mountAll(i + 1));
      } finally {
        await ctx.snapshotter.remove(key).catch(() => {});
      }
    } finally {
      await rmdir(target).catch(() => {});
    }
  };
  try {
    return await mountAll(0);
  } finally {
    await rmdir(dir).catch(() => {});
  }
}

export async function withRootfs<T>(result: BuildResult, ctx: ExportContext, fn: (dir: string) => Promise<T>): Promise<T> {
  const base = ctx.mountsDir ?? tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, `export-${process.pid}-`));
  try {
    if (result.snapshot === null) return await fn(dir);
    if (!ctx.snapshotter) throw new TsbuildError('EXPORT_FAILED', 'this output needs the rootfs, but no snapshotter was given to the exporter');
    const key = `export-view:${process.pid}:${randomBytes(6).toString('hex')}`;
    const mounts = await ctx.snapshotter.view(key, result.snapshot);
    try {
      return await withMounts(mounts, dir, fn);
    } finally {
      await ctx.snapshotter.remove(key).catch(() => {});
    }
  } finally {
    // rmdir, never rm -r: if an unmount failed, the dir still shows a snapshot that must not be emptied
    await rmdir(dir).catch(() => {});
  }
}
