import { mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withMounts } from '../../../src/snapshot/mount.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';

/**
 * The Snapshotter conformance suite, written once and run against every implementation. Mounts are
 * mounted for real (root and a kernel with the snapshotter's filesystem are required).
 * `spawnDeadPrepare(root, key)` makes a child process prepare `key` and exit, leaving an
 * active snapshot of a dead process behind.
 */
export interface SnapshotterHarness {
  name: string;
  create(root: string): Snapshotter;
  spawnDeadPrepare(root: string, key: string, parent: string | undefined): Promise<void>;
}

export function snapshotterConformance(h: SnapshotterHarness): void {
  describe(`Snapshotter conformance: ${h.name}`, () => {
    let tmp: string;
    let root: string;
    let sn: Snapshotter;
    let n = 0;
    const target = async () => {
      const d = join(tmp, `mnt${n++}`);
      await mkdir(d);
      return d;
    };
    /** prepare `key` on `parent`, let `fn` change the tree, commit as `name`. */
    const layer = async (name: string, parent: string | undefined, fn: (dir: string) => Promise<void>) => {
      const mounts = await sn.prepare(`${name}-active`, parent);
      await withMounts(mounts, await target(), fn);
      await sn.commit(name, `${name}-active`);
    };

    beforeEach(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'tsb-snap-'));
      root = join(tmp, 'snapshots');
      sn = h.create(root);
    });
    afterEach(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    it('prepare, write, commit; stat and walk report kinds and parents', async () => {
      await layer('base', undefined, async (d) => {
        await writeFile(join(d, 'a.txt'), 'A');
      });
      expect(await sn.stat('base-active')).toBeUndefined();
      const base = await sn.stat('base');
      expect(base).toMatchObject({ key: 'base', kind: 'committed' });
      expect(base!.parent).toBeUndefined();
      await sn.prepare('work', 'base', { labels: { purpose: 'test' } });
      expect(await sn.stat('work')).toMatchObject({ key: 'work', kind: 'active', parent: 'base', labels: { purpose: 'test' } });
      const seen: string[] = [];
      await sn.walk((i) => {
        seen.push(`${i.key}:${i.kind}`);
      });
      expect(seen).toEqual(['base:committed', 'work:active']);
      expect(await readFile(join(await sn.layerDir('base'), 'a.txt'), 'utf8')).toBe('A');
    });

    it('three stacked layers show merged content; a view is read-only', async () => {
      await layer('l1', undefined, async (d) => {
        await writeFile(join(d, 'one'), '1');
        await writeFile(join(d, 'shadowed'), 'from l1');
        await mkdir(join(d, 'dir'));
        await writeFile(join(d, 'dir', 'x'), 'x1');
      });
      await layer('l2', 'l1', async (d) => {
        expect(await readFile(join(d, 'one'), 'utf8')).toBe('1');
        await writeFile(join(d, 'two'), '2');
        await writeFile(join(d, 'shadowed'), 'from l2');
      });
      await layer('l3', 'l2', async (d) => {
        await writeFile(join(d, 'three'), '3');
        await writeFile(join(d, 'dir', 'y'), 'y3');
        await unlink(join(d, 'one'));
      });
      // l3's own layer dir holds only its changes
      expect((await readdir(await sn.layerDir('l3'))).sort()).toEqual(['dir', 'one', 'three']);
      await sn.view('v', 'l3');
      await withMounts(await sn.mounts('v'), await target(), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['dir', 'shadowed', 'three', 'two']);
        expect(await readFile(join(d, 'shadowed'), 'utf8')).toBe('from l2');
        expect((await readdir(join(d, 'dir'))).sort()).toEqual(['x', 'y']);
        await expect(writeFile(join(d, 'new'), 'no')).rejects.toMatchObject({ code: 'EROFS' });
      });
      // a view over a single layer is read-only too
      await sn.view('v1', 'l1');
      await withMounts(await sn.mounts('v1'), await target(), async (d) => {
        expect((await readdir(d)).sort()).toEqual(['dir', 'one', 'shadowed']);
        await expect(writeFile(join(d, 'new'), 'no')).rejects.toMatchObject({ code: 'EROFS' });
      });
      await sn.remove('v');
      await sn.remove('v1');
      expect(await sn.stat('v')).toBeUndefined();
    });

    it('committing over an existing name fails with SNAPSHOT_EXISTS; duplicate keys too', async () => {
      await layer('same', undefined, async () => {});
      await sn.prepare('other');
      await expect(sn.commit('same', 'other')).rejects.toMatchObject({ code: 'SNAPSHOT_EXISTS' });
      expect(await sn.stat('other')).toMatchObject({ kind: 'active' });
      await expect(sn.prepare('other')).rejects.toMatchObject({ code: 'SNAPSHOT_EXISTS' });
      await expect(sn.prepare('x', 'missing')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
      await expect(sn.prepare('y', 'other')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_COMMITTED' });
    });

    it('of two concurrent commits to one name, exactly one wins', async () => {
      await sn.prepare('r1');
      await sn.prepare('r2');
      const results = await Promise.allSettled([sn.commit('result', 'r1'), sn.commit('result', 'r2')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'SNAPSHOT_EXISTS' });
      expect(await sn.stat('result')).toMatchObject({ kind: 'committed' });
      const loser = results[0]!.status === 'rejected' ? 'r1' : 'r2';
      expect(await sn.stat(loser)).toMatchObject({ kind: 'active' });
      await sn.remove(loser);
    });

    it('remove refuses a parent in use, then frees the directory', async () => {
      await layer('p', undefined, async (d) => {
        await writeFile(join(d, 'f'), 'x'.repeat(10000));
      });
      const dir = await sn.layerDir('p');
      const u = await sn.usage('p');
      expect(u.inodes).toBe(2);
      expect(u.size).toBeGreaterThanOrEqual(10000);
      await sn.prepare('c', 'p');
      await expect(sn.remove('p')).rejects.toMatchObject({ code: 'SNAPSHOT_IN_USE' });
      await sn.remove('c');
      await sn.remove('p');
      await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(sn.remove('p')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
    });

    it('cleanup removes active snapshots of dead processes only', async () => {
      await layer('base', undefined, async () => {});
      await h.spawnDeadPrepare(root, 'orphan', 'base');
      const orphan = await sn.stat('orphan');
      expect(orphan).toMatchObject({ kind: 'active', parent: 'base' });
      await sn.prepare('mine', 'base');
      const before = (await readdir(root)).length;
      await sn.cleanup();
      expect(await sn.stat('orphan')).toBeUndefined();
      expect(await sn.stat('mine')).toMatchObject({ kind: 'active' });
      expect(await sn.stat('base')).toMatchObject({ kind: 'committed' });
      expect((await readdir(root)).length).toBe(before - 1);
    });
  });
}
