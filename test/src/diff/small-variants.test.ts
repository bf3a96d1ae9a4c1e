/**
 * A small layer's gzip variant is made beside the build (small-variants.ts): the same bytes the export
 * makes from the stored tar in any store, found ready by the export (nothing compressed or written again),
 * and a memo that cannot be trusted (cut short, naming a missing blob or one of another size) is remade.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { createLayer } from '../../../src/diff/compare.js';
import { gzipSmall, SMALL_GZIP_BYTES } from '../../../src/diff/compress.js';
import { randomBytes } from 'node:crypto';
import { backgroundGzip, backgroundWorkerTid, BACKGROUND_NICE, MAX_QUEUED_BYTES, MIN_BACKGROUND_BYTES, SmallVariants } from '../../../src/diff/small-variants.js';
import { forExport, gzipVariantOfSmall } from '../../../src/diff/variants.js';
import { gunzipSync, gzipSync } from 'node:zlib';
import { MediaType, type Layer } from '../../../src/image/types.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-small-variants-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function store(): LocalContentStore {
  return new LocalContentStore(join(dir, `content-${n++}`));
}

/** A tree of `files` files of `size` varied bytes each. */
function tree(files: number, size: number): string {
  const t = join(dir, `tree-${n++}`);
  mkdirSync(join(t, 'd'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const b = Buffer.alloc(size);
    for (let j = 0; j < size; j++) b[j] = (j * 7 + i * 13 + (j >> 9)) & 0xff;
    writeFileSync(join(t, i % 2 ? 'd' : '.', `f${i}`), b);
  }
  return t;
}

const blobs = (c: LocalContentStore) => readdirSync(join(c.root, 'blobs/sha256')).sort();

/** Build-side: commit the tree uncompressed and make its small variant beside it, as the solver does. */
async function built(c: LocalContentStore, layerDir: string): Promise<{ layer: Layer; sv: SmallVariants }> {
  const sv = new SmallVariants(c);
  const layer = await createLayer({ layerDir, content: c, compression: 'none', onSmallTar: (l, tar) => sv.add(l, tar) });
  await sv.settled();
  await sv.finish();
  return { layer, sv };
}

describe('gzip variants of small layers, made beside the build', () => {
  it('are found ready by the export (nothing new written) and are the bytes a store without them makes at export', async () => {
    const t = tree(20, 5000);
    const a = store();
    const { layer, sv } = await built(a, t);
    expect(layer.descriptor.mediaType).toBe(MediaType.OciLayer);
    expect(sv.made).toBe(1);
    const before = blobs(a);
    const memos = readdirSync(join(a.root, 'variants'));
    expect(memos.length).toBe(1);
    const [ready] = await forExport([layer], a);
    expect(ready!.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
    expect(ready!.diffID).toBe(layer.diffID);
    expect(before).toContain(ready!.descriptor.digest.slice(7));
    // reused, not made again: no new blob or memo, and the blob file is the one written beside the build
    const ino = statSync(a.path(ready!.descriptor.digest)).ino;
    expect(blobs(a)).toEqual(before);
    expect(readdirSync(join(a.root, 'variants'))).toEqual(memos);
    expect(statSync(a.path(ready!.descriptor.digest)).ino).toBe(ino);

    // another store, the same tree, no variant at commit: the export makes the same bytes
    const b = store();
    const plain = await createLayer({ layerDir: t, content: b, compression: 'none' });
    expect(plain).toEqual(layer);
    const [made] = await forExport([plain], b);
    expect(made).toEqual(ready);
    // and twice in the same store: the same
    expect(await forExport([plain], b)).toEqual([made]);
  });

  it('the background worker gives zlib\'s bytes (the ones gzipSmall and the export give)', async () => {
    const input = Buffer.from('abc'.repeat(10_000));
    expect(await backgroundGzip(input, BACKGROUND_NICE)).toEqual(gzipSync(input, { level: 1, chunkSize: 256 << 10 }));
    // random bytes: stored blocks, as gzipSmall makes them (compress.ts defaultGzipLevel)
    const random = randomBytes(300_000);
    expect(await backgroundGzip(random, BACKGROUND_NICE)).toEqual(await gzipSmall(random));
    expect(gunzipSync(await backgroundGzip(random, BACKGROUND_NICE)).equals(random)).toBe(true);
  });

  it('jobs run at nice BACKGROUND_NICE on their own thread (this one stays at 0)', async () => {
    const nice = (tid: number | string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    await backgroundGzip(Buffer.from('x'), BACKGROUND_NICE);
    expect(backgroundWorkerTid()).not.toBe(process.pid);
    expect(nice(backgroundWorkerTid())).toBe(BACKGROUND_NICE);
    expect(nice(process.pid)).toBe(0);
  });

  it('a job still compressing when the solve ends is abandoned: finish() does not wait for it and it writes nothing', async () => {
    const c = store();
    const l = await createLayer({ layerDir: tree(3, 30000), content: c, compression: 'none' });
    const tar = await c.read(l.descriptor.digest);
    let release!: () => void;
    let started!: () => void;
    const compressing = new Promise<void>((res) => (started = res));
    const sv = new SmallVariants(c, undefined, async (data) => {
      started();
      await new Promise<void>((res) => (release = res));
      return gzipSync(data, { level: 1 });
    });
    sv.add(l, tar);
    await compressing;
    const blobsBefore = blobs(c);
    await sv.finish(); // returns while the compression is held (waiting for it would never end: the test fails)
    release();
    await sv.settled();
    expect(sv.made).toBe(0);
    expect(blobs(c)).toEqual(blobsBefore);
    expect(readdirSync(c.root)).not.toContain('variants');
    expect(readdirSync(join(c.root, 'ingest'))).toEqual([]);
  });

  it('a layer under MIN_BACKGROUND_BYTES is left to the export (no job), which makes the same bytes', async () => {
    const c = store();
    const { layer, sv } = await built(c, tree(2, 1000));
    expect(layer.descriptor.size).toBeLessThan(MIN_BACKGROUND_BYTES);
    expect(sv.made).toBe(0);
    const [v] = await forExport([layer], c);
    const other = store();
    expect(await gzipVariantOfSmall(other, layer, await c.read(layer.descriptor.digest))).toEqual(v);
  });

  it('a layer over SMALL_GZIP_BYTES is not held in memory: its variant is left to the export', async () => {
    const big = tree(5, Math.ceil(SMALL_GZIP_BYTES / 4));
    const c = store();
    let called = 0;
    await createLayer({ layerDir: big, content: c, compression: 'none', onSmallTar: () => called++ });
    expect(called).toBe(0);
  });

  it('a memo cut short, naming a missing blob or a blob of another size, is not trusted: the variant is made again', async () => {
    const c = store();
    const { layer } = await built(c, tree(4, 20000));
    const memoDir = join(c.root, 'variants');
    const [memo] = readdirSync(memoDir);
    const [v] = await forExport([layer], c);
    const memoPath = join(memoDir, memo!);

    truncateSync(memoPath, 10); // a power loss can leave a non-durable memo cut short
    expect(await forExport([layer], c)).toEqual([v]);

    rmSync(c.path(v!.descriptor.digest));
    expect(await forExport([layer], c)).toEqual([v]);
    expect(await c.has(v!.descriptor.digest)).toBe(true);

    // a memo naming a blob of another size than it says
    const other = await c.put(Buffer.from('another blob'));
    writeFileSync(memoPath, JSON.stringify({ ...v, descriptor: { ...v!.descriptor, digest: other.digest } }));
    expect(await forExport([layer], c)).toEqual([v]);
  });

  it('when the solve ends, jobs not started are dropped (never waited for); the export makes those variants, same bytes', async () => {
    const c = store();
    const sv = new SmallVariants(c);
    const layers = [];
    for (let i = 0; i < 3; i++) layers.push(await createLayer({ layerDir: tree(2 + i, 40000), content: c, compression: 'none' }));
    const tars = await Promise.all(layers.map((l) => c.read(l.descriptor.digest)));
    layers.forEach((l, i) => sv.add(l, tars[i]!));
    await sv.finish(); // at once: nothing had started
    expect(sv.made).toBe(0);
    expect(readdirSync(c.root)).not.toContain('variants');
    const exported = await forExport(layers, c);
    const other = store();
    for (const l of layers) await gzipVariantOfSmall(other, l, await c.read(l.descriptor.digest));
    expect(await forExport(layers, other)).toEqual(exported);
  });

  it('at most MAX_QUEUED_BYTES of tars are held for jobs not done: a layer past it is left to the export', async () => {
    const c = store();
    const sv = new SmallVariants(c);
    const l = await createLayer({ layerDir: tree(2, 40000), content: c, compression: 'none' });
    const tar = await c.read(l.descriptor.digest);
    const fill = Buffer.alloc(MAX_QUEUED_BYTES - tar.byteLength + 1);
    sv.add({ ...l, diffID: 'sha256:' + '0'.repeat(64) }, fill); // fails when it runs (larger than small) but is held until then
    sv.add(l, tar); // would pass the bound: not queued
    await sv.settled();
    expect(sv.made).toBe(0);
    sv.add(l, tar); // the bound is free again
    await sv.settled();
    expect(sv.made).toBe(1);
  });

  it('a failed job is dropped (the export makes that variant) and later jobs still run', async () => {
    const c = store();
    const sv = new SmallVariants(c);
    const l1 = await createLayer({ layerDir: tree(2, 40000), content: c, compression: 'none' });
    const l2 = await createLayer({ layerDir: tree(3, 40000), content: c, compression: 'none' });
    sv.add(l1, Buffer.alloc(SMALL_GZIP_BYTES + 1)); // refused: not small
    sv.add(l2, await c.read(l2.descriptor.digest));
    await sv.settled();
    expect(sv.made).toBe(1);
    const made = await gzipVariantOfSmall(c, l2, await c.read(l2.descriptor.digest));
    expect((await forExport([l2], c))[0]).toEqual(made);
  });
});
