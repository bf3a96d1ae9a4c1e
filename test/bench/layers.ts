/**
 * Layer export speed (part of `npm run bench`; also `node dist/test/bench/layers.js`): a layer of 20,000
 * small files (~100 MB) made by createLayer (tar + compression, written and fsynced into the content
 * store), against `tar -c | gzip -1` of the same files (to a file, not fsynced) as the reference; and
 * the export-time conversions (gzip → zstd, → uncompressed, memo hit). The reference and the default
 * layer export (what a build does) alternate, RUNS rounds, so both see the same machine load; medians,
 * with each one's spread and the ratio. Compressed sizes beside each gzip row.
 */
import { filler, median, time } from './stats.js';
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer } from '../../src/diff/compare.js';
import { DEFAULT_GZIP_LEVEL, findTool, gzipEngine } from '../../src/diff/compress.js';
import { tarOnWorker } from '../../src/diff/tar-producer.js';
import { LocalContentStore } from '../../src/content/store.js';
import { prepareLayers } from '../../src/diff/variants.js';

const RUNS = process.env.BENCH_QUICK === '1' ? 3 : 5;

/** Median time of RUNS runs of fn. */
async function medianRun(fn: () => unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(fn));
  return median(xs);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export async function layerBench(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-layerbench-'));
  try {
    const tree = join(work, 'tree');
    for (let i = 0; i < 20_000; i++) {
      const d = join(tree, `d${i % 200}`);
      if (i < 200) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.txt`), filler(i, 3000 + ((i * 7919) % 4000), 100000));
    }
    const content = new LocalContentStore(join(work, 'content'));
    const rows: [string, number, string][] = [];
    const engine = gzipEngine();
    // the target: reference and default export alternate, so both see the same load
    const ref: number[] = [];
    const dflt: number[] = [];
    let dfltSize = 0;
    for (let i = 0; i < RUNS; i++) {
      ref.push(await time(() => execSync(`tar -C '${tree}' -c . | gzip -1 > '${work}/ref.tar.gz'`)));
      dflt.push(await time(async () => (dfltSize = (await createLayer({ layerDir: tree, content })).descriptor.size)));
    }
    const spread = (xs: number[]) => `${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)} s`;
    rows.push(['tar -c | gzip -1 (reference)', median(ref), `${mb(statSync(`${work}/ref.tar.gz`).size)}, ${spread(ref)}`]);
    rows.push([`createLayer default (gzip -${DEFAULT_GZIP_LEVEL}, ${engine})`, median(dflt), `${mb(dfltSize)}, ${spread(dflt)}, ${(median(dflt) / median(ref)).toFixed(2)}× reference`]);
    if (findTool('pigz')) rows.push(['tar -c | pigz -1', await medianRun(() => execSync(`tar -C '${tree}' -c . | pigz -1 > '${work}/ref.tar.gz'`)), mb(statSync(`${work}/ref.tar.gz`).size)]);
    for (const level of [1, 2, 6]) {
      let size = 0;
      const ms = await medianRun(async () => (size = (await createLayer({ layerDir: tree, content, level })).descriptor.size));
      rows.push([`createLayer gzip -${level} (${engine})`, ms, mb(size)]);
    }
    rows.push(['createLayer uncompressed', await medianRun(() => createLayer({ layerDir: tree, content, compression: 'none' })), '']);
    const layer = await createLayer({ layerDir: tree, content });
    const variantsDir = join(content.root, 'variants');
    rows.push(['export: gzip → zstd (new variant)', await medianRun(async () => {
      rmSync(variantsDir, { recursive: true, force: true });
      await prepareLayers([layer], { compression: 'zstd' }, content);
    }), '']);
    rows.push(['export: gzip → zstd (memo hit)', await medianRun(() => prepareLayers([layer], { compression: 'zstd' }, content)), '']);
    const w = Math.max(...rows.map((r) => r[0].length));
    const tarMb = (Number(execSync(`du -sb '${tree}'`).toString().split('\t')[0]) / 1e6).toFixed(0);
    console.log(`\nlayer export: 20,000 files, ${tarMb} MB, medians of ${RUNS}; tar made on ${tarOnWorker() ? 'a worker thread' : 'the main thread'}`);
    for (const [name, ms, note] of rows) console.log(`${name.padEnd(w)} | ${(ms / 1000).toFixed(3)} s${note ? ` | ${note}` : ''}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/'))) await layerBench();
