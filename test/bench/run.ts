/**
 * `npm run bench`: wall-clock medians of real `tsbuild build` runs (a fresh process each time, as a
 * CI job would run it) on the multi-stage fixture: cold (empty cache, base image present), unchanged
 * rebuild, and rebuild after changing one source file. Prints a table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'bin/tsbuild');
const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-'));

function tsbuild(root: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', root, ...args], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`tsbuild ${args.join(' ')} failed:\n${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function makeContext(): string {
  const ctx = join(work, 'ctx');
  cpSync(join(repo, 'test/fixtures/bench/multistage'), ctx, { recursive: true });
  for (let i = 0; i < 200; i++) {
    const dir = join(ctx, 'src', `mod${i % 10}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));
  }
  return ctx;
}

try {
  const template = join(work, 'template-store');
  execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', template], { stdio: 'pipe' });
  const ctx = makeContext();
  const rows: [string, number[]][] = [];

  const cold: number[] = [];
  for (let i = 0; i < 3; i++) {
    const root = join(work, `cold-${i}`);
    cpSync(template, root, { recursive: true });
    cold.push(tsbuild(root, ['-t', 'bench:latest', ctx]));
    rmSync(root, { recursive: true, force: true });
  }
  rows.push(['cold build (base image in store)', cold]);

  const root = join(work, 'warm');
  cpSync(template, root, { recursive: true });
  tsbuild(root, ['-t', 'bench:latest', ctx]);
  const unchanged: number[] = [];
  for (let i = 0; i < 7; i++) unchanged.push(tsbuild(root, ['-t', 'bench:latest', ctx]));
  rows.push(['unchanged rebuild', unchanged]);

  const changed: number[] = [];
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(ctx, 'src/mod3/file3.txt'), `changed ${Date.now()} ${i}\n`);
    changed.push(tsbuild(root, ['-t', 'bench:latest', ctx]));
  }
  rows.push(['rebuild after one changed file', changed]);

  const noop = spawnSync(process.execPath, [bin, '--version']);
  if (noop.status !== 0) throw new Error('tsbuild --version failed');
  const startup: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, [bin, '--version']);
    startup.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  rows.push(['startup (tsbuild --version)', startup]);

  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\ntsbuild bench: multi-stage fixture (3 stages, 200 source files), ${new Date().toISOString()}`);
  console.log(`${'case'.padEnd(w)} | runs | median s | min s   | max s`);
  console.log(`${'-'.repeat(w)}-|------|----------|---------|--------`);
  for (const [name, xs] of rows) {
    const f = (v: number) => (v / 1000).toFixed(3).padStart(7);
    console.log(`${name.padEnd(w)} | ${String(xs.length).padStart(4)} | ${f(median(xs))}  | ${f(Math.min(...xs))} | ${f(Math.max(...xs))}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
