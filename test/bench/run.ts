/**
 * `npm run bench`: wall-clock medians of real builds (a fresh process each time, as a CI job runs them),
 * tsbuild side by side with the reference BuildKit v0.13 (Docker 26.1 with a warm daemon,
 * `../shared/reference/buildkit.sh`, `docker buildx build`) and buildah (Debian package), in one run.
 *
 * Every workload builds FROM an image in a local docker-registry (HTTP on 127.0.0.1) that the bench starts
 * and fills: busybox (made by scripts/make-base-image.sh) and a Debian made once with debootstrap
 * (cached under /var/cache/tsbuild-bench). All builders pull it from there; every RUN has the host network.
 * Workloads: a 3-stage build of ~200 files with a .dockerignore; a 20,000-file (~100 MB) context with 30%
 * ignored and `COPY . /app`; 30 RUN steps each writing 1 MB; `apt-get install` of a small package on the
 * Debian base (through the Debian mirror).
 * Cells: cold (no build cache, no base image), unchanged rebuild, one file changed, export to a docker tar
 * (`-o type=docker,dest=`; BuildKit in dockerd has no such exporter: build + `docker save`; buildah: bud +
 * push docker-archive:), push to a fresh repository of the local registry (BuildKit: `--push`; buildah: bud
 * + push). The builders alternate inside each cell (run i of every builder, then run
 * i + 1), so all see the same machine load, and their order rotates each run: the first build after a
 * change also meets whatever is cold (the page cache, the Debian mirror's connections, DNS), and before it
 * was always tsbuild's. Ratios are tsbuild / peer (< 1: tsbuild is faster).
 * Sections after the table: startup, the unchanged rebuild against `node -e 0` (noop), sandbox, layers,
 * registry, multiplatform, ci-runner.
 * `BENCH_QUICK=1`: fewer runs; `BENCH_ONLY=PREFIX`: one workload or section; `BENCH_PEERS=buildkit,buildah`.
 */
import { filler, median } from './stats.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxBench } from './sandbox.js';
import { TestRegistry } from '../registry/harness.js';
import { bin, buildahStorage, ensureBuildah, publishBases, repo, write, type Bases } from './bases.js';
import { buildkitBuilder, timed, type Builder, type Output } from './builders.js';

const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-'));
const quick = process.env.BENCH_QUICK === '1';
// The cells whose builds take seconds (cold, one file changed) are where the machine and the Debian mirror
// add the most noise (in session 5's runs one slow run in three moved a median by 30%): 5 runs there.
const REPS = { cold: quick ? 1 : 5, unchanged: quick ? 3 : 5, changed: quick ? 2 : 5, export: quick ? 1 : 3, push: quick ? 1 : 3 };
const CELLS = ['cold', 'unchanged', 'one file changed', 'export to docker tar', 'push to a fresh repo'] as const;
type Cell = (typeof CELLS)[number];

function tsbuildBuilder(registry: string): Builder {
  const root = join(work, 'tsbuild-root');
  const common = ['build', '--progress', 'quiet', '--root', root, '--network', 'host', '--insecure-registry', registry];
  return {
    name: 'tsbuild',
    fresh: () => rmSync(root, { recursive: true, force: true }),
    build(ctx, out) {
      const o = out.kind === 'docker-tar' ? ['-o', `type=docker,dest=${out.dest}`] : out.kind === 'push' ? ['-o', `type=registry,name=${out.ref}`] : [];
      return timed(bin, [...common, '-t', 'bench:latest', ...o, ctx]);
    },
  };
}

function buildahBuilder(registry: string): Builder {
  const storage = buildahStorage(work);
  const common = storage.common;
  return {
    name: 'buildah',
    fresh: () => storage.fresh(),
    async build(ctx, out) {
      let ms = await timed('buildah', [...common, 'bud', '--layers', '--isolation', 'chroot', '--network', 'host', '--tls-verify=false', '-q', '-t', 'bench:latest', ctx]);
      if (out.kind === 'docker-tar') ms += await timed('buildah', [...common, 'push', '-q', 'bench:latest', `docker-archive:${out.dest}:bench:latest`]);
      if (out.kind === 'push') ms += await timed('buildah', [...common, 'push', '-q', '--tls-verify=false', 'bench:latest', `docker://${out.ref}`]);
      void registry;
      return ms;
    },
  };
}

interface Workload {
  name: string;
  make(dir: string, bases: Bases): void;
  /** Change one file for the "one file changed" cell (i: repetition). */
  change(dir: string, i: number): void;
}

const workloads: Workload[] = [
  {
    name: '3-stage, 200 files, .dockerignore',
    make(dir, b) {
      cpSync(join(repo, 'test/fixtures/bench/multistage'), dir, { recursive: true });
      write(join(dir, 'Dockerfile'), execFileSync('cat', [join(dir, 'Dockerfile')]).toString().replace(/^FROM busybox/gm, `FROM ${b.busybox}`));
      write(join(dir, '.dockerignore'), '**/*.log\nnotes/\n');
      for (let i = 0; i < 200; i++) write(join(dir, 'src', `mod${i % 10}`, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));
      for (let i = 0; i < 20; i++) write(join(dir, 'src', `mod${i % 10}`, `debug${i}.log`), `log ${i}\n`);
      write(join(dir, 'notes/todo.md'), 'not in the context\n');
    },
    change: (dir, i) => write(join(dir, 'src/mod3/file3.txt'), `changed ${Date.now()} ${i}\n`),
  },
  {
    name: '20,000 files (~100 MB), 30% ignored, COPY . /app',
    make(dir, b) {
      write(join(dir, 'Dockerfile'), `FROM ${b.busybox}\nCOPY . /app\nRUN find /app -type f | wc -l > /count\n`);
      write(join(dir, '.dockerignore'), '**/*.tmp\n');
      for (let i = 0; i < 20_000; i++) {
        const ext = i % 10 < 3 ? 'tmp' : 'txt';
        write(join(dir, `d${i % 200}`, `f${i}.${ext}`), filler(i, 5000));
      }
    },
    change: (dir, i) => write(join(dir, 'd7/f7.txt'), `changed ${Date.now()} ${i}\n` + filler(7, 5000)),
  },
  {
    name: '30 RUN steps writing 1 MB each',
    make(dir, b) {
      const runs = Array.from({ length: 30 }, (_, i) => `RUN head -c 1048576 /dev/urandom > /out${i}`);
      write(join(dir, 'Dockerfile'), [`FROM ${b.busybox}`, ...runs, 'COPY seed.txt /seed.txt'].join('\n') + '\n');
      write(join(dir, 'seed.txt'), 'seed\n');
    },
    change: (dir, i) => write(join(dir, 'seed.txt'), `seed ${Date.now()} ${i}\n`),
  },
  {
    name: 'Debian base, apt-get install',
    make(dir, b) {
      const lines = [`FROM ${b.debian}`, 'COPY trigger.txt /trigger.txt', 'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libjq1 >/dev/null && rm -rf /var/lib/apt/lists/*'];
      write(join(dir, 'Dockerfile'), lines.join('\n') + '\n');
      write(join(dir, 'trigger.txt'), 'v0\n');
    },
    change: (dir, i) => write(join(dir, 'trigger.txt'), `v${Date.now()} ${i}\n`),
  },
];

interface Row {
  workload: string;
  cell: Cell;
  medians: Map<string, number>;
}

let pushes = 0;

async function runWorkload(w: Workload, builders: Builder[], bases: Bases, registry: string): Promise<Row[]> {
  const ctx = join(work, 'ctx-' + w.name.replace(/[^a-z0-9]+/gi, '-'));
  w.make(ctx, bases);
  const times = new Map<Cell, Map<string, number[]>>(CELLS.map((c) => [c, new Map(builders.map((b) => [b.name, []]))]));
  const add = (c: Cell, b: Builder, ms: number) => times.get(c)!.get(b.name)!.push(ms);
  const each = async (c: Cell, n: number, before: (i: number) => void, out: (b: Builder, i: number) => Output, prep?: (b: Builder) => void) => {
    for (let i = 0; i < n; i++) {
      before(i);
      // The order rotates each round: no builder always goes first (or always right after another's build).
      for (const b of builders.map((_, k) => builders[(k + i) % builders.length]!)) {
        prep?.(b);
        const o = out(b, i);
        try {
          add(c, b, await b.build(ctx, o));
        } catch (err) {
          // one builder failing a cell is reported (n/a) and the bench goes on
          console.error(`bench: ${w.name}, ${c}: ${b.name} failed: ${(err as Error).message.slice(0, 1500)}`);
          add(c, b, Number.NaN);
        }
        if (o.kind === 'docker-tar') rmSync(o.dest, { force: true });
      }
    }
  };
  const none = (): Output => ({ kind: 'none' });
  await each('cold', REPS.cold, () => {}, none, (b) => b.fresh());
  await each('unchanged', REPS.unchanged, () => {}, none);
  await each('one file changed', REPS.changed, (i) => w.change(ctx, i), none);
  await each('export to docker tar', REPS.export, () => {}, (b) => ({ kind: 'docker-tar', dest: join(work, `${b.name}.tar`) }));
  await each('push to a fresh repo', REPS.push, () => {}, (b) => ({ kind: 'push', ref: `${registry}/fresh-${b.name}-${pushes++}:v1` }));
  rmSync(ctx, { recursive: true, force: true });
  console.error(`bench: ${w.name}: done`);
  // a cell with a failed run has no median (NaN: printed n/a)
  return CELLS.map((cell) => ({ workload: w.name, cell, medians: new Map([...times.get(cell)!].map(([n, xs]) => [n, xs.some(Number.isNaN) ? Number.NaN : median(xs)])) }));
}

let reg: TestRegistry | undefined;
try {
  const only = process.env.BENCH_ONLY;
  let chosen = workloads.filter((w) => !only || w.name.startsWith(only));
  // the sandbox section builds FROM the registry's busybox too (tsbuild and BuildKit alike)
  const sandbox = !only || 'sandbox'.startsWith(only);
  reg = chosen.length || sandbox ? await TestRegistry.start('open') : undefined;
  const registry = reg?.domain ?? '127.0.0.1:1';
  const bases = reg ? await publishBases(registry, work, { debian: chosen.some((w) => w.name.startsWith('Debian')) }) : { busybox: '' };
  chosen = chosen.filter((w) => !w.name.startsWith('Debian') || bases.debian !== undefined);
  const builders: Builder[] = [tsbuildBuilder(registry)];
  const peers = !chosen.length && !sandbox ? [] : (process.env.BENCH_PEERS ?? 'buildkit,buildah').split(',').filter(Boolean);
  if (peers.includes('buildkit') && chosen.length) {
    const bk = buildkitBuilder();
    if (bk) builders.push(bk);
    else console.error('bench: the reference BuildKit is not available; skipping it');
  }
  if (peers.includes('buildah') && chosen.length) {
    if (ensureBuildah()) builders.push(buildahBuilder(registry));
    else console.error('bench: buildah is not available; skipping it');
  }
  const rows: Row[] = [];
  for (const w of chosen) rows.push(...(await runWorkload(w, builders, bases, registry)));

  const names = builders.slice(1).map((b) => b.name);
  const head = ['workload', 'cell', 'tsbuild s', ...names.map((p) => `${p} s`), ...names.map((p) => `tsbuild/${p}`)];
  const table = rows.map((r) => {
    const t = r.medians.get('tsbuild')!;
    const sec = (ms: number) => (Number.isNaN(ms) ? 'n/a' : (ms / 1000).toFixed(3));
    const ratio = (p: string) => (Number.isNaN(t / r.medians.get(p)!) ? 'n/a' : `${(t / r.medians.get(p)!).toFixed(2)}x`);
    return [r.workload, r.cell, sec(t), ...names.map((p) => sec(r.medians.get(p)!)), ...names.map(ratio)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  console.log(`\ntsbuild bench, ${new Date().toISOString()}, load average ${load}; medians of ${Object.entries(REPS).map(([k, v]) => `${v} ${k}`).join(' / ')} runs, builders alternating`);
  if (rows.length) {
    console.log(line(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
    for (const row of table) console.log(line(row));
  }
  const startup: number[] = [];
  for (let i = 0; i < 7; i++) startup.push(await timed(bin, ['--version']));

  console.log(`startup (tsbuild --version): ${(median(startup) / 1000).toFixed(3)} s`);
  // the unchanged rebuild FROM a registry image against `node -e 0` and BuildKit (test/bench/noop-registry.ts), in its own process
  if (!only || 'noop'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/noop-registry.js'), quick ? '3' : '7'], { stdio: 'inherit' });
  if (sandbox) for (const l of await sandboxBench(repo, { reps: quick ? 1 : 3, registry, busybox: bases.busybox, buildkit: peers.includes('buildkit') })) console.log(l);
  // layer export speed (test/bench/layers.ts), in its own process
  if (!only || 'layers'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/layers.js')], { stdio: 'inherit' });
  // registry push/pull against skopeo (test/bench/registry.ts), in its own process
  if (!only || 'registry'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/registry.js')], { stdio: 'inherit' });
  // multi-platform: amd64 alone, arm64 alone (emulated), both in one build (test/bench/multiplatform.ts), in its own process
  if (!only || 'multiplatform'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/multiplatform.js')], { stdio: 'inherit' });
  // the CI runner: a fresh store with --cache-from a registry cache (test/bench/ci-runner.ts), in its own process
  if (!only || 'ci-runner'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/ci-runner.js')], { stdio: 'inherit' });
} finally {
  await reg?.stop();
  spawnSync('umount', ['-R', join(work, 'buildah-root', 'overlay')], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
