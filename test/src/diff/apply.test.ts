import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../../src/content/store.js';
import { applyLayer } from '../../../src/diff/apply.js';
import { createLayer } from '../../../src/diff/compare.js';
import { MediaType, type Descriptor } from '../../../src/image/types.js';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { withMounts } from '../../../src/snapshot/mount.js';
import { makeLayers, makeTar, type TarEntrySpec } from './fixtures.js';
import { describeTree } from './tree.js';

describe('applyLayer', () => {
  let tmp: string;
  let sn: OverlaySnapshotter;
  let content: LocalContentStore;
  let n = 0;
  const freshDir = async () => {
    const d = join(tmp, `apply${n++}`);
    await mkdir(d);
    return d;
  };
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-apply-'));
    sn = await makeLayers(tmp);
    content = new LocalContentStore(join(tmp, 'content'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('round-trips createLayer → applyLayer: same tree, same diffID, same blob', async () => {
    for (const key of ['base', 'top']) {
      const src = await sn.layerDir(key);
      const layer = await createLayer({ layerDir: src, content });
      const dest = await freshDir();
      const { diffID } = await applyLayer({ content, descriptor: layer.descriptor, layerDir: dest, diffID: layer.diffID });
      expect(diffID).toBe(layer.diffID);
      expect(describeTree(dest)).toEqual(describeTree(src));
      const again = await createLayer({ layerDir: dest, content });
      expect(again).toEqual(layer);
    }
    // the round trip really carried the interesting parts
    const top = describeTree(await sn.layerDir('top'));
    expect(top).toContain('gone whiteout');
    expect(top.some((l) => l.startsWith('dir/ dir') && l.endsWith(' opaque'))).toBe(true);
    const base = describeTree(await sn.layerDir('base'));
    expect(base.some((l) => l.startsWith('bin/tool file mode=4755') && l.endsWith('nlink=2'))).toBe(true);
    expect(base.some((l) => l.startsWith('etc/shadow file mode=0 '))).toBe(true);
    expect(base.some((l) => l.startsWith('bigid file mode=644 uid=1000000 gid=2000000'))).toBe(true);
  });

  it('unpacked layers stacked in a new snapshotter show the same merged tree', async () => {
    const sn2 = new OverlaySnapshotter(join(tmp, 'snapshots2'));
    let parent: string | undefined;
    for (const key of ['base', 'top']) {
      const layer = await createLayer({ layerDir: await sn.layerDir(key), content, level: 1 });
      await sn2.prepare(`${key}-a`, parent);
      await applyLayer({ content, descriptor: layer.descriptor, layerDir: await sn2.layerDir(`${key}-a`) });
      await sn2.commit(key, `${key}-a`);
      parent = key;
    }
    await sn.view('v1', 'top');
    await sn2.view('v2', 'top');
    const m1 = join(tmp, 'm1');
    const m2 = join(tmp, 'm2');
    await mkdir(m1);
    await mkdir(m2);
    await withMounts(await sn.mounts('v1'), m1, async () => {
      await withMounts(await sn2.mounts('v2'), m2, async () => {
        const merged = describeTree(m2);
        expect(merged).toEqual(describeTree(m1));
        expect(merged.some((l) => l.startsWith('gone'))).toBe(false);
        expect(merged.some((l) => l.startsWith('old'))).toBe(false);
        expect(merged.filter((l) => l.startsWith('dir/'))).toHaveLength(2); // dir/ and dir/b, not dir/a
        expect(await readFile(join(m2, 'etc', 'passwd'), 'utf8')).toContain('/bin/bash');
      });
    });
  });

  it('reads plain, gzip and zstd blobs alike', async () => {
    const tarBuf = await makeTar([{ header: { name: 'hello', mtime: new Date(1e12) }, body: 'world' }]);
    const zst = execFileSync('zstd', ['-q', '-c'], { input: tarBuf });
    const results: string[] = [];
    for (const [blob, mediaType] of [
      [tarBuf, MediaType.OciLayer],
      [gzipSync(tarBuf), MediaType.OciLayerGzip],
      [zst, MediaType.OciLayerZstd],
    ] as const) {
      const info = await content.put(blob);
      const dest = await freshDir();
      results.push((await applyLayer({ content, descriptor: { mediaType, ...info }, layerDir: dest })).diffID);
      expect(await readFile(join(dest, 'hello'), 'utf8')).toBe('world');
    }
    expect(new Set(results).size).toBe(1);
  });

  it('rejects a wrong expected diffID and a corrupted blob, leaving the dir empty', async () => {
    const info = await content.put(await makeTar([{ header: { name: 'f' }, body: 'data' }]));
    const descriptor: Descriptor = { mediaType: MediaType.OciLayer, ...info };
    const d1 = await freshDir();
    await expect(applyLayer({ content, descriptor, layerDir: d1, diffID: 'sha256:' + '0'.repeat(64) })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await readdir(d1)).toEqual([]);
    // corrupt the stored blob inside the file body: the tar still parses, only the digest can tell
    const path = content.path(info.digest);
    await chmod(path, 0o644);
    const bytes = await readFile(path);
    expect(bytes.subarray(512, 516).toString()).toBe('data');
    bytes[512] = 0x44;
    await writeFile(path, bytes);
    const d2 = await freshDir();
    await expect(applyLayer({ content, descriptor, layerDir: d2 })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await readdir(d2)).toEqual([]);
  });

  it('refuses a non-empty layer dir', async () => {
    const info = await content.put(await makeTar([{ header: { name: 'f' }, body: 'x' }]));
    const d = await freshDir();
    await writeFile(join(d, 'existing'), '');
    await expect(applyLayer({ content, descriptor: { mediaType: MediaType.OciLayer, ...info }, layerDir: d })).rejects.toMatchObject({ code: 'LAYER_DIR_NOT_EMPTY' });
  });

  describe('hostile tars', () => {
    const cases: Array<[string, TarEntrySpec[]]> = [
      ['a ../ escape', [{ header: { name: '../escaped' }, body: 'pwned' }]],
      ['a nested ../ escape', [{ header: { name: 'a/../../escaped' }, body: 'pwned' }]],
      ['writing through an absolute symlink', [{ header: { name: 'link', type: 'symlink', linkname: '__OUTSIDE__' } }, { header: { name: 'link/escaped' }, body: 'pwned' }]],
      ['writing through a relative symlink', [{ header: { name: 'up', type: 'symlink', linkname: '..' } }, { header: { name: 'up/escaped' }, body: 'pwned' }]],
      ['a directory entry through a symlink', [{ header: { name: 'up', type: 'symlink', linkname: '__OUTSIDE__' } }, { header: { name: 'up/newdir', type: 'directory' } }]],
      ['a whiteout through a symlink', [{ header: { name: 'up', type: 'symlink', linkname: '__OUTSIDE__' } }, { header: { name: 'up/.wh.escaped' } }]],
      ['an opaque marker through a symlink', [{ header: { name: 'up', type: 'symlink', linkname: '__OUTSIDE__' } }, { header: { name: 'up/.wh..wh..opq' } }]],
      ['a hard link out of the layer', [{ header: { name: 'h', type: 'link', linkname: '../outside-file' } }]],
      ['a hard link to a file not in the layer', [{ header: { name: 'h', type: 'link', linkname: '/etc/passwd' } }]],
      ['a hard link through a symlink', [{ header: { name: 'up', type: 'symlink', linkname: '__OUTSIDE__' } }, { header: { name: 'h', type: 'link', linkname: 'up/outside-file' } }]],
      ['a whiteout of ..', [{ header: { name: 'a/.wh...' } }]],
    ];
    for (const [what, entries] of cases) {
      it(`rejects ${what} and writes nothing outside`, async () => {
        const box = join(tmp, `box${n++}`);
        const outside = join(box, 'outside');
        const layerDir = join(box, 'layer');
        await mkdir(outside, { recursive: true });
        await mkdir(layerDir);
        await writeFile(join(outside, 'outside-file'), 'keep');
        const fixed = entries.map((e) => ({ ...e, header: { ...e.header, linkname: e.header.linkname?.replace('__OUTSIDE__', outside) } }));
        const info = await content.put(await makeTar(fixed));
        await expect(applyLayer({ content, descriptor: { mediaType: MediaType.OciLayer, ...info }, layerDir })).rejects.toMatchObject({ code: 'UNSAFE_LAYER' });
        expect((await readdir(box)).sort()).toEqual(['layer', 'outside']);
        expect(await readdir(outside)).toEqual(['outside-file']);
        expect(await readFile(join(outside, 'outside-file'), 'utf8')).toBe('keep');
        expect(await readdir(layerDir)).toEqual([]);
      });
    }

    it('contains absolute names and folds harmless dot segments, as Docker does', async () => {
      const info = await content.put(
        await makeTar([
          { header: { name: '/abs/file' }, body: 'a' },
          { header: { name: './x/../rel' }, body: 'b' },
          { header: { name: 'dup' }, body: 'first' },
          { header: { name: 'dup' }, body: 'second' },
          { header: { name: 'l', type: 'symlink', linkname: '/etc' } },
          { header: { name: 'l', type: 'directory' } },
        ]),
      );
      const d = await freshDir();
      await applyLayer({ content, descriptor: { mediaType: MediaType.OciLayer, ...info }, layerDir: d });
      expect(await readFile(join(d, 'abs', 'file'), 'utf8')).toBe('a');
      expect(await readFile(join(d, 'rel'), 'utf8')).toBe('b');
      expect(await readFile(join(d, 'dup'), 'utf8')).toBe('second');
      expect(describeTree(d).find((l) => l.startsWith('l/'))).toMatch(/^l\/ dir /);
      expect((await readdir(d)).sort()).toEqual(['abs', 'dup', 'l', 'rel']);
    });
  });
});
