import { mkdtempSync, mkdirSync, rmSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCap, diskUsage, parseDuration, parseSize, prune } from '../../../src/cache/gc.js';
import { binarySize as formatBytes } from '../../../src/units/bytes.js';
import { CacheStore } from '../../../src/cache/store.js';
import { LocalContentStore } from '../../../src/content/store.js';
import { LocalImageStore } from '../../../src/imagestore/store.js';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { existsSync } from 'node:fs';

describe('gc helpers', () => {
  it.each<[string, number | undefined]>([
    ['2048', 2048], ['1KB', 1024], ['1.5MB', 1.5 * 1024 ** 2], ['10GB', 10 * 1024 ** 3], ['512MiB', 512 * 1024 ** 2], ['2g', 2 * 1024 ** 3], ['x', undefined], ['-1MB', undefined],
  ])('parseSize(%s)', (s, n) => expect(parseSize(s)).toBe(n));

  it.each<[string, number | undefined]>([
    ['24h', 86_400_000], ['90m', 5_400_000], ['1h30m', 5_400_000], ['45s', 45_000], ['1.5h', 5_400_000], ['7d', 7 * 86_400_000], ['', undefined], ['10', undefined], ['5x', undefined],
  ])('parseDuration(%s)', (s, n) => expect(parseDuration(s)).toBe(n));

  it('diskUsage counts blocks, hard links once; formatBytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-gc-'));
    try {
      mkdirSync(join(dir, 'd'));
      writeFileSync(join(dir, 'd/a'), Buffer.alloc(100_000, 1));
      const one = diskUsage(dir);
      linkSync(join(dir, 'd/a'), join(dir, 'b'));
      expect(diskUsage(dir)).toBe(one);
      expect(one).toBeGreaterThanOrEqual(100_000);
      expect(diskUsage(join(dir, 'missing'))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(formatBytes(512)).toBe('512B');
    expect(formatBytes(1536)).toBe('1.50KiB');
    const cap = defaultCap(tmpdir());
    expect(cap).toBeGreaterThanOrEqual(1024 ** 3);
    expect(cap).toBeLessThanOrEqual(20 * 1024 ** 3);
  });
});

describe('prune', () => {
  it('removes temp files a killed process left in the cache dirs, and unreferenced blobs; keeps live ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-prune-'));
    try {
      const snapshotter = new OverlaySnapshotter(join(dir, 'snapshots'));
      const content = new LocalContentStore(join(dir, 'content'));
      const deps = {
        content,
        snapshotter,
        images: new LocalImageStore(join(dir, 'images')),
        cache: new CacheStore({ dir: join(dir, 'cache'), snapshotExists: async () => false }),
      };
      mkdirSync(join(dir, 'cache/records'), { recursive: true });
      const dead = join(dir, 'cache/records', '.abc.json.tmp-999999999-0a1b2c');
      const live = join(dir, 'cache/records', `.abc.json.tmp-${process.pid}-0a1b2c`);
      writeFileSync(dead, 'x');
      writeFileSync(live, 'x');
      const blob = await content.put(Buffer.from('nobody refers to me'));
      const r = await prune(deps);
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(await content.has(blob.digest)).toBe(false);
      expect(r).toMatchObject({ records: 0, snapshots: 0, blobs: 1, freed: blob.size });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops between removals when its signal is aborted (Ctrl-C during the cap): nothing more is removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-prune-'));
    try {
      const content = new LocalContentStore(join(dir, 'content'));
      const deps = {
        content,
        snapshotter: new OverlaySnapshotter(join(dir, 'snapshots')),
        images: new LocalImageStore(join(dir, 'images')),
        cache: new CacheStore({ dir: join(dir, 'cache'), snapshotExists: async () => false }),
      };
      const blob = await content.put(Buffer.from('unreferenced, but the user pressed Ctrl-C'));
      const ctrl = new AbortController();
      ctrl.abort();
      const r = await prune(deps, { signal: ctrl.signal });
      expect(r.blobs).toBe(0);
      expect(await content.has(blob.digest)).toBe(true);
      expect((await prune(deps)).blobs).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
