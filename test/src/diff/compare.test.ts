import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../../src/content/store.js';
import type { ContentStore } from '../../../src/content/types.js';
import { createLayer } from '../../../src/diff/compare.js';
import { MediaType } from '../../../src/image/types.js';
import type { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { LONG, makeLayers, tarNames } from './fixtures.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

describe('createLayer', () => {
  let tmp: string;
  let sn: OverlaySnapshotter;
  let content: LocalContentStore;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-compare-'));
    sn = await makeLayers(tmp);
    content = new LocalContentStore(join(tmp, 'content'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes a gzip layer whose digest and diffID match its bytes', async () => {
    const layer = await createLayer({ layerDir: await sn.layerDir('base'), content });
    expect(layer.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
    const blob = await content.read(layer.descriptor.digest);
    expect(layer.descriptor.size).toBe(blob.length);
    expect(sha(blob)).toBe(layer.descriptor.digest);
    expect(sha(gunzipSync(blob))).toBe(layer.diffID);
  });

  it('orders entries depth-first, dirs before contents, siblings bytewise; hard links and special files', async () => {
    const layer = await createLayer({ layerDir: await sn.layerDir('base'), content, compression: 'none' });
    expect(layer.descriptor.mediaType).toBe(MediaType.OciLayer);
    expect(layer.descriptor.digest).toBe(layer.diffID);
    const names = await tarNames(await content.read(layer.descriptor.digest));
    expect(names).toEqual([
      'big.bin',
      'bigid',
      'bin/',
      'bin/alias',
      'bin/tool',
      'bin/tool-link',
      'dangling',
      'd'.repeat(60) + '/',
      'd'.repeat(60) + '/' + 'e'.repeat(70) + '/',
      LONG,
      'dir/',
      'dir/a',
      'empty',
      'etc/',
      'etc/passwd',
      'etc/shadow',
      'fifo',
      'gone',
      'home/',
      'home/user/',
      'home/user/notes – ünïcode.txt',
      'null',
      'old/',
      'old/sub/',
      'old/sub/x',
    ]);
  });

  it('converts overlay whiteouts and opaque dirs to OCI whiteouts', async () => {
    const layer = await createLayer({ layerDir: await sn.layerDir('top'), content, compression: 'none' });
    const names = await tarNames(await content.read(layer.descriptor.digest));
    expect(names).toEqual(['.wh.gone', '.wh.old', 'dir/', 'dir/.wh..wh..opq', 'dir/b', 'etc/', 'etc/passwd']);
  });

  it('is deterministic: two runs give byte-identical blobs, at any gzip level', async () => {
    for (const level of [1, 6]) {
      const a = await createLayer({ layerDir: await sn.layerDir('base'), content, level });
      const b = await createLayer({ layerDir: await sn.layerDir('base'), content, level });
      expect(b).toEqual(a);
    }
    const fast = await createLayer({ layerDir: await sn.layerDir('base'), content, level: 1 });
    const best = await createLayer({ layerDir: await sn.layerDir('base'), content, level: 9 });
    expect(fast.diffID).toBe(best.diffID);
    expect(fast.descriptor.digest).not.toBe(best.descriptor.digest);
  });

  it('an empty dir gives an empty tar; an aborted run stores nothing', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(empty);
    const layer = await createLayer({ layerDir: empty, content, compression: 'none' });
    expect(layer.descriptor.size).toBe(1024);
    const big = join(tmp, 'many');
    await mkdir(big);
    for (let i = 0; i < 200; i++) await writeFile(join(big, `f${i}`), Buffer.alloc(100_000, i));
    const before: string[] = [];
    for await (const b of content.list()) before.push(b.digest);
    const ac = new AbortController();
    const p = createLayer({ layerDir: big, content, signal: ac.signal });
    setImmediate(() => ac.abort(new Error('stop')));
    await expect(p).rejects.toThrow('stop');
    const after: string[] = [];
    for await (const b of content.list()) after.push(b.digest);
    expect(after).toEqual(before);
    await content.cleanup();
  });

  it('an uncompressed layer written by the tar thread (ContentWriter.direct) has the bytes of one written through the writer (a store without direct)', async () => {
    const plain: ContentStore = {
      ...content,
      path: (d) => content.path(d),
      has: (d) => content.has(d),
      read: (d) => content.read(d),
      writer: async (o) => {
        const w = await content.writer(o);
        return { write: (c) => w.write(c), commit: () => w.commit(), abort: () => w.abort() };
      },
    } as ContentStore;
    let small = 0;
    for (const key of ['base', 'top']) {
      const layerDir = await sn.layerDir(key);
      let smallDirect: Buffer | undefined;
      let smallSink: Buffer | undefined;
      const direct = await createLayer({ layerDir, content, compression: 'none', onSmallTar: (_, t) => (smallDirect = t) });
      const viaSink = await createLayer({ layerDir, content: plain, compression: 'none', onSmallTar: (_, t) => (smallSink = t) });
      expect(direct).toEqual(viaSink);
      expect(smallDirect === undefined).toBe(smallSink === undefined);
      if (smallDirect) {
        expect(smallDirect.equals(smallSink!)).toBe(true);
        expect(sha(smallDirect)).toBe(direct.diffID);
        small++;
      }
    }
    expect(small).toBe(1); // 'top' is small, 'base' (big.bin) is not
  });
});
