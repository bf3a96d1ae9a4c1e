/**
 * Layer export speed (part of `npm run bench`; also `node dist/test/bench/layers.js`): a layer of 20,000
 * small files (~100 MB) made by createLayer (tar + compression, written and fsynced into the content
 * store), against `tar -c | gzip -1` of the same files (to a file, not fsynced) as the reference; and
 * the export-time conversions (gzip → zstd, → uncompressed, memo hit). Medians of 3 runs.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer } from '../../src/diff/compare.js';
import { findTool } from '../../src/diff/compress.js';
import { LocalContentStore } from '../../src/content/store.js';
import { prepareLayers } from '../../exporters/layers.js';

const RUNS = 3;

function filler(seed: number, bytes: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'const', 'return', 'import', 'export', 'function', 'value', 'index', 'buffer'];
  let s = '';
  let x = seed * 2654435761;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + (x % 7 === 0 ? '\n' : ' ') + (x % 100000);
  }
  return s.slice(0, bytes);
}

async function time(fn: () => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function median(fn: () => unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(fn));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

export async function layerBench(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-layerbench-'));
  try {
    const tree = join(work, 'tree');
    for (let i = 0; i < 20_000; i++) {
      const d = join(tree, `d${i % 200}`);
      if (i < 200) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.txt`), filler(i, 3000 + ((i * 7919) % 4000)));
    }
    const content = new LocalContentStore(join(work, 'content'));
    const rows: [string, number][] = [];
    rows.push(['tar -c | gzip -1 (reference)', await median(() => execSync(`tar -C '${tree}' -c . | gzip -1 > '${work}/ref.tar.gz'`))]);
    if (findTool('pigz')) rows.push(['tar -c | pigz -1', await median(() => execSync(`tar -C '${tree}' -c . | pigz -1 > '${work}/ref.tar.gz'`))]);
    const gz = () => createLayer({ layerDir: tree, content, level: 1 });
    rows.push([`createLayer gzip -1 (${findTool('pigz') && process.env.TSBUILD_GZIP !== 'zlib' ? 'pigz' : 'zlib'})`, await median(gz)]);
    rows.push(['createLayer gzip default level (6)', await median(() => createLayer({ layerDir: tree, content }))]);
    rows.push(['createLayer uncompressed', await median(() => createLayer({ layerDir: tree, content, compression: 'none' }))]);
    const layer = await createLayer({ layerDir: tree, content });
    const variantsDir = join(content.root, 'variants');
    rows.push(['export: gzip → zstd (new variant)', await median(async () => {
      rmSync(variantsDir, { recursive: true, force: true });
      await prepareLayers([layer], { compression: 'zstd' }, content);
    })]);
    rows.push(['export: gzip → zstd (memo hit)', await median(() => prepareLayers([layer], { compression: 'zstd' }, content))]);
    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`\nlayer export: 20,000 files, ${(Number(execSync(`du -sb '${tree}'`).toString().split('\t')[0]) / 1e6).toFixed(0)} MB, medians of ${RUNS}`);
    for (const [name, ms] of rows) console.log(`${name.padEnd(w)} | ${(ms / 1000).toFixed(3)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/'))) await layerBench();
