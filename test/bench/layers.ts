/**
 * Layer export speed (part of `npm run bench`; also `node dist/test/bench/layers.js`): a layer of 20,000
 * small files (~100 MB) made by createLayer (tar + compression, written and fsynced into the content
 * store), against `tar -c | gzip -1` of the same files (to a file, not fsynced) as the reference; and
 * the export-time conversions (gzip → zstd, → uncompressed, memo hit). Medians of 3 runs.
 */
import { filler, median, time } from './stats.js';
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer } from '../../src/diff/compare.js';
import { findTool } from '../../src/diff/compress.js';
import { LocalContentStore } from '../../src/content/store.js';
import { prepareLayers } from '../../exporters/layers.js';

const RUNS = 3;



/** Median time of RUNS runs of fn. */
async function medianRun(fn: () => unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(fn));
  return median(xs);
}

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
    const rows: [string, number][] = [];
    rows.push(['tar -c | gzip -1 (reference)', await medianRun(() => execSync(`tar -C '${tree}' -c . | gzip -1 > '${work}/ref.tar.gz'`))]);
    if (findTool('pigz')) rows.push(['tar -c | pigz -1', await medianRun(() => execSync(`tar -C '${tree}' -c . | pigz -1 > '${work}/ref.tar.gz'`))]);
    const gz = () => createLayer({ layerDir: tree, content, level: 1 });
    rows.push([`createLayer gzip -1 (${findTool('pigz') && process.env.TSBUILD_GZIP !== 'zlib' ? 'pigz' : 'zlib'})`, await medianRun(gz)]);
    rows.push(['createLayer gzip default level (6)', await medianRun(() => createLayer({ layerDir: tree, content }))]);
    rows.push(['createLayer uncompressed', await medianRun(() => createLayer({ layerDir: tree, content, compression: 'none' }))]);
    const layer = await createLayer({ layerDir: tree, content });
    const variantsDir = join(content.root, 'variants');
    rows.push(['export: gzip → zstd (new variant)', await medianRun(async () => {
      rmSync(variantsDir, { recursive: true, force: true });
      await prepareLayers([layer], { compression: 'zstd' }, content);
    })]);
    rows.push(['export: gzip → zstd (memo hit)', await medianRun(() => prepareLayers([layer], { compression: 'zstd' }, content))]);
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`\nlayer export: 20,000 files, ${(Number(execSync(`du -sb '${tree}'`).toString().split('\t')[0]) / 1e6).toFixed(0)} MB, medians of ${RUNS}`);
    for (const [name, ms] of rows) console.log(`${name.padEnd(w)} | ${(ms / 1000).toFixed(3)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/'))) await layerBench();
