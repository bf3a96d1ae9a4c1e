/**
 * solver/ops/file/copy-reuse.ts: the fallbacks of copyIncrementally. On a "mount" that is the snapshot's own dir
 * (as for a snapshot without a parent), an earlier result that went away, or a case the copy does not
 * handle, leaves the new snapshot's dir empty and says so (undefined): the op then copies from scratch.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumSelectionDetailed, type SelectionFile } from '../../src/context/checksum.js';
import { selectSources } from '../../src/context/select.js';
import { copyFiles, CopyReuseUnsupported } from '../../src/copy/copy.js';
import { rowsByPath } from '../../src/copy/incremental.js';
import { copyIncrementally, type ReuseCandidate } from '../../solver/ops/file/copy-reuse.js';

let tmp: string;
let ctx: string;
let upper: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-copyreuse-'));
  ctx = join(tmp, 'ctx');
  upper = join(tmp, 'upper');
  mkdirSync(join(ctx, 'src/sub'), { recursive: true });
  mkdirSync(upper);
  writeFileSync(join(ctx, 'src/a.txt'), 'a');
  writeFileSync(join(ctx, 'src/sub/b.txt'), 'b');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function candidate(oldDir: string): Promise<ReuseCandidate> {
  const selection = await selectSources({ root: ctx, sources: ['src'], allowWildcard: false, followSymlinks: false });
  const collect: SelectionFile[] = [];
  await checksumSelectionDetailed(selection, { collect });
  return { oldDir, selection, dest: '/app/', oldRows: rowsByPath(collect)!, newRows: rowsByPath(collect)! };
}
const mounted = <T>(fn: (rootfs: string) => Promise<T>): Promise<T> => fn(upper);

describe('copyIncrementally', () => {
  it('reuses an earlier result: everything unchanged is kept', async () => {
    const old = join(tmp, 'old');
    mkdirSync(old);
    const c = await candidate(old);
    await copyFiles({ srcRoot: ctx, destRoot: old, src: ['src'], dest: '/app/', allowWildcard: false, followSymlinks: false, preserveOwnership: false, selection: c.selection });
    const kept = await copyIncrementally(c, upper, mounted, (rootfs, reuse) =>
      copyFiles({ srcRoot: ctx, destRoot: rootfs, src: ['src'], dest: '/app/', allowWildcard: false, followSymlinks: false, preserveOwnership: false, selection: c.selection, reuse }),
    );
    expect(kept).toBe(2);
  });

  it('an earlier result that went away: nothing done, the dir stays empty', async () => {
    const c = await candidate(join(tmp, 'pruned'));
    let copied = false;
    const kept = await copyIncrementally(c, upper, mounted, async () => {
      copied = true;
    });
    expect(kept).toBeUndefined();
    expect(copied).toBe(false);
    expect(readdirSync(upper)).toEqual([]);
  });

  it('a case the copy does not handle, met half-way: the dir is emptied again; other errors are thrown', async () => {
    const old = join(tmp, 'old');
    mkdirSync(join(old, 'app'), { recursive: true });
    writeFileSync(join(old, 'app/a.txt'), 'a');
    const c = await candidate(old);
    const kept = await copyIncrementally(c, upper, mounted, async () => {
      writeFileSync(join(upper, 'half-written'), '');
      throw new CopyReuseUnsupported('symlink in the way');
    });
    expect(kept).toBeUndefined();
    expect(readdirSync(upper)).toEqual([]);
    await expect(copyIncrementally(c, upper, mounted, async () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(readdirSync(join(old, 'app'))).toEqual(['a.txt']);
  });
});
