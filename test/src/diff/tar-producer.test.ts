/**
 * tar-producer.ts: the tar made on a worker thread gives the same bytes as on the main thread, errors on
 * either side reach the caller, and a worker whose job failed or was aborted serves the next one.
 * The worker runs compiled code, so this test loads the tsc output (dist/, made by `npm run build`,
 * which scripts/test.sh runs first) next to the TypeScript sources the rest of the suite uses.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../../src/content/store.js';
import * as srcCompare from '../../../src/diff/compare.js';
import * as srcProducer from '../../../src/diff/tar-producer.js';
import type { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { makeLayers } from './fixtures.js';

const distUrl = new URL('../../../dist/src/diff/', import.meta.url);
type Producer = typeof srcProducer;
type Compare = typeof srcCompare;

async function tarOf(produce: Producer['produceTar'], dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await produce(dir, new Set(), async (c) => void chunks.push(c));
  return Buffer.concat(chunks);
}

describe('produceTar', () => {
  let tmp: string;
  let sn: OverlaySnapshotter;
  let content: LocalContentStore;
  let dist: Producer;
  let distCompare: Compare;
  let many: string;
  beforeAll(async () => {
    if (!existsSync(fileURLToPath(new URL('tar-worker.js', distUrl)))) throw new Error('dist/src/diff/tar-worker.js is missing: run `npm run build` first');
    dist = (await import(new URL('tar-producer.js', distUrl).href)) as Producer;
    distCompare = (await import(new URL('compare.js', distUrl).href)) as Compare;
    tmp = await mkdtemp(join(tmpdir(), 'tsb-tarprod-'));
    sn = await makeLayers(tmp);
    content = new LocalContentStore(join(tmp, 'content'));
    many = join(tmp, 'many');
    for (let i = 0; i < 300; i++) {
      await mkdir(join(many, `d${i % 7}`), { recursive: true });
      await writeFile(join(many, `d${i % 7}`, `f${i}`), Buffer.alloc(20_000 + i, i));
    }
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('runs on a worker in the compiled build and on the main thread from the sources', () => {
    expect(dist.tarOnWorker()).toBe(true);
    expect(srcProducer.tarOnWorker()).toBe(false);
  });

  it('a small tree is made on the main thread while no worker is idle (no worker started), a large one starts a worker that small ones then reuse', async () => {
    const small = await sn.layerDir('top');
    expect(dist.isSmallTree(small)).toBe(true);
    expect(dist.isSmallTree(many)).toBe(false);
    const before = dist.tarWorkersStarted();
    const a = await distCompare.createLayer({ layerDir: small, content, compression: 'none' });
    expect(dist.tarWorkersStarted()).toBe(before);
    expect(a).toEqual(await srcCompare.createLayer({ layerDir: small, content, compression: 'none' }));
    expect((await tarOf(dist.produceTar, many)).equals(await tarOf(srcProducer.produceTar, many))).toBe(true);
    expect(dist.tarWorkersStarted()).toBe(before + 1);
    await tarOf(dist.produceTar, small);
    expect(dist.tarWorkersStarted()).toBe(before + 1);
  });

  it('a tree is small up to SMALL_ENTRIES entries and SMALL_BYTES of file data', async () => {
    const entries = join(tmp, 'entries');
    await mkdir(join(entries, 'd'), { recursive: true });
    for (let i = 0; i < srcProducer.SMALL_ENTRIES - 1; i++) await writeFile(join(entries, 'd', `f${i}`), 'x');
    expect(srcProducer.isSmallTree(entries)).toBe(true); // d + 255 files
    await writeFile(join(entries, 'one-more'), 'x');
    expect(srcProducer.isSmallTree(entries)).toBe(false);
    const bytes = join(tmp, 'bytes');
    await mkdir(join(bytes, 'd'), { recursive: true });
    await writeFile(join(bytes, 'd', 'big'), Buffer.alloc(srcProducer.SMALL_BYTES));
    expect(srcProducer.isSmallTree(bytes)).toBe(true);
    await writeFile(join(bytes, 'one-byte'), 'x');
    expect(srcProducer.isSmallTree(bytes)).toBe(false);
    expect(srcProducer.isSmallTree(join(tmp, 'no-such-dir'))).toBe(false);
  });

  it('gives the same layer bytes on the worker as on the main thread (whiteouts, opaque dirs, every entry type)', async () => {
    for (const key of ['base', 'top']) {
      const dir = await sn.layerDir(key);
      const onWorker = await distCompare.createLayer({ layerDir: dir, content, compression: 'none' });
      const inThread = await srcCompare.createLayer({ layerDir: dir, content, compression: 'none' });
      expect(onWorker).toEqual(inThread);
    }
    const a = await tarOf(dist.produceTar, many);
    const b = await tarOf(srcProducer.produceTar, many);
    expect(a.byteLength).toBeGreaterThan(6_000_000);
    expect(createHash('sha256').update(a).digest('hex')).toBe(createHash('sha256').update(b).digest('hex'));
  });

  it('reports an error from the worker with its code, and the worker serves the next job', async () => {
    const err = await dist.produceTar(join(tmp, 'no-such-dir'), new Set(), async () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((err as Error).message).toContain('no-such-dir');
    expect((await tarOf(dist.produceTar, many)).equals(await tarOf(srcProducer.produceTar, many))).toBe(true);
  });

  it('a consumer that fails stops the worker; so does an abort; both leave the worker usable', async () => {
    let seen = 0;
    const failing = dist.produceTar(many, new Set(), async () => {
      if (++seen === 2) throw new Error('disk full');
    });
    await expect(failing).rejects.toThrow('disk full');
    expect(seen).toBe(2);
    const ac = new AbortController();
    let got = 0;
    const aborted = dist.produceTar(
      many,
      new Set(),
      async () => {
        if (++got === 1) ac.abort(new Error('stop'));
      },
      ac.signal,
    );
    await expect(aborted).rejects.toThrow('stop');
    expect(got).toBe(1);
    expect((await tarOf(dist.produceTar, many)).equals(await tarOf(srcProducer.produceTar, many))).toBe(true);
  });

  it('a file job (produceTarFile) on the worker writes the bytes of the chunks and their sha256; an abort settles only after the worker stopped, and the worker serves the next job', async () => {
    const { openSync, closeSync, readFileSync } = await import('node:fs');
    const expected = await tarOf(srcProducer.produceTar, many);
    const file = join(tmp, 'file-job.tar');
    const fd = openSync(file, 'w');
    try {
      const r = await dist.produceTarFile(many, new Set(), fd, 0);
      expect(r.size).toBe(expected.byteLength);
      expect(r.hex).toBe(createHash('sha256').update(expected).digest('hex'));
      expect(r.small).toBeUndefined();
      expect(readFileSync(file).equals(expected)).toBe(true);
    } finally {
      closeSync(fd);
    }
    const fd2 = openSync(file, 'w');
    const ac = new AbortController();
    const aborted = dist.produceTarFile(many, new Set(), fd2, 0, ac.signal);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    closeSync(fd2);
    const fd3 = openSync(file, 'w');
    try {
      const r = await dist.produceTarFile(many, new Set(), fd3, 64 << 20);
      expect(r.small!.equals(expected)).toBe(true);
    } finally {
      closeSync(fd3);
    }
  });

  it('warmTarWorker starts one worker ahead of need, only when none is idle, and the next large layer uses it', async () => {
    // a fresh instance of the module: its own pool, empty
    const fresh = (await import(new URL('tar-producer.js?warm', distUrl).href)) as Producer;
    expect(fresh.tarWorkersStarted()).toBe(0);
    fresh.warmTarWorker();
    expect(fresh.tarWorkersStarted()).toBe(1);
    fresh.warmTarWorker();
    expect(fresh.tarWorkersStarted()).toBe(1); // one is idle
    expect((await tarOf(fresh.produceTar, many)).equals(await tarOf(srcProducer.produceTar, many))).toBe(true);
    expect(fresh.tarWorkersStarted()).toBe(1); // the warmed one made it
  });

  it('releaseTarWorkers stops the idle workers: the next large layer starts a new one, with the same bytes', async () => {
    const fresh = (await import(new URL('tar-producer.js?release', distUrl).href)) as Producer;
    const expected = await tarOf(srcProducer.produceTar, many);
    expect((await tarOf(fresh.produceTar, many)).equals(expected)).toBe(true);
    expect(fresh.tarWorkersStarted()).toBe(1);
    fresh.warmTarWorker();
    expect(fresh.tarWorkersStarted()).toBe(1); // the first one is idle
    await fresh.releaseTarWorkers();
    fresh.warmTarWorker();
    expect(fresh.tarWorkersStarted()).toBe(2); // none idle any more
    expect((await tarOf(fresh.produceTar, many)).equals(expected)).toBe(true);
    expect(fresh.tarWorkersStarted()).toBe(2);
  });
});
