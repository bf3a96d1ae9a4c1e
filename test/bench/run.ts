/**
 * `npm run bench`: wall-clock medians of real builds (a fresh process each time, as a CI job would run
 * them), tsbuild side by side with its peers on this machine:
 * - buildah (Debian package, installed here if missing): `bud --layers --isolation chroot`, its own
 *   storage under the bench dir, the base image copied in from an OCI archive tsbuild exported;
 * - docker build (BuildKit) when a daemon answers `docker info` (none is started here).
 * Scenarios: a 3-stage build of ~200 files; a 20,000-file (~100 MB) context whose .dockerignore excludes
 * 30% of it; 30 RUN steps each writing 1 MB. Cases: cold (empty cache, base image present), unchanged
 * rebuild, rebuild after changing one file. `BENCH_QUICK=1` runs fewer repetitions.
 */
import { filler, median } from './stats.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sandboxBench } from './sandbox.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'bin/tsbuild');
const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-'));
const quick = process.env.BENCH_QUICK === '1';
const REPS = { cold: quick ? 1 : 3, unchanged: quick ? 3 : 7, changed: quick ? 2 : 3 };

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return ms;
}


/** One builder under test. `fresh()` gives it an empty cache holding only the base image. */
interface Builder {
  name: string;
  fresh(): void;
  build(ctx: string): number;
}

const tsbuildTemplate = join(work, 'tsbuild-template');

function tsbuildBuilder(): Builder {
  const root = join(work, 'tsbuild-root');
  return {
    name: 'tsbuild',
    fresh() {
      rmSync(root, { recursive: true, force: true });
      cpSync(tsbuildTemplate, root, { recursive: true });
    },
    build: (ctx) => timed(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', root, '-t', 'bench:latest', ctx]),
  };
}

function ensureBuildah(): boolean {
  if (spawnSync('sh', ['-c', 'command -v buildah']).status === 0) return true;
  console.error('bench: installing buildah (Debian package)…');
  const r = spawnSync('apt-get', ['install', '-y', '-q', 'buildah'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: 'ignore' });
  return r.status === 0;
}

function buildahBuilder(baseArchive: string): Builder {
  const root = join(work, 'buildah-root');
  const runroot = join(work, 'buildah-runroot');
  const common = ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay'];
  const wipe = () => {
    spawnSync('buildah', [...common, 'rm', '--all'], { stdio: 'ignore' });
    spawnSync('umount', ['-R', join(root, 'overlay')], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
    rmSync(runroot, { recursive: true, force: true });
  };
  return {
    name: 'buildah',
    fresh() {
      wipe();
      execFileSync('skopeo', ['copy', '-q', `oci-archive:${baseArchive}`, `containers-storage:[overlay@${root}+${runroot}]docker.io/library/busybox:latest`], { stdio: 'pipe' });
    },
    build: (ctx) => timed('buildah', [...common, 'bud', '--pull=never', '--layers', '--isolation', 'chroot', '-q', '-t', 'bench:latest', ctx]),
  };
}

function dockerBuilder(): Builder | undefined {
  if (spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return undefined;
  const env = { ...process.env, DOCKER_BUILDKIT: '1' };
  return {
    name: 'docker',
    fresh() {
      spawnSync('docker', ['builder', 'prune', '-af'], { stdio: 'ignore', env });
    },
    build: (ctx) => timed('docker', ['build', '-q', '--network', 'host', '-t', 'bench:latest', ctx], env),
  };
}

interface Scenario {
  name: string;
  make(dir: string): void;
  /** Change one file for the "one changed file" case (i: repetition). */
  change(dir: string, i: number): void;
}

function write(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}


const scenarios: Scenario[] = [
  {
    name: '3-stage, 200 files',
    make(dir) {
      cpSync(join(repo, 'test/fixtures/bench/multistage'), dir, { recursive: true });
      for (let i = 0; i < 200; i++) write(join(dir, 'src', `mod${i % 10}`, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));
    },
    change: (dir, i) => write(join(dir, 'src/mod3/file3.txt'), `changed ${Date.now()} ${i}\n`),
  },
  {
    name: '20,000 files (~100 MB), 30% ignored',
    make(dir) {
      write(join(dir, 'Dockerfile'), 'FROM busybox\nWORKDIR /app\nCOPY . .\nRUN find . -type f | wc -l > /count\n');
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
    make(dir) {
      const runs = Array.from({ length: 30 }, (_, i) => `RUN head -c 1048576 /dev/urandom > /out${i}`);
      write(join(dir, 'Dockerfile'), ['FROM busybox', 'COPY seed.txt /seed.txt', ...runs].join('\n') + '\n');
      write(join(dir, 'seed.txt'), 'seed\n');
    },
    change: (dir, i) => write(join(dir, 'seed.txt'), `seed ${Date.now()} ${i}\n`),
  },
];

interface Row {
  scenario: string;
  kase: string;
  medians: Map<string, number>;
}

function runScenario(s: Scenario, builders: Builder[]): Row[] {
  const ctx = join(work, 'ctx-' + s.name.replace(/[^a-z0-9]+/gi, '-'));
  s.make(ctx);
  const rows: Row[] = [
    { scenario: s.name, kase: 'cold', medians: new Map() },
    { scenario: s.name, kase: 'unchanged rebuild', medians: new Map() },
    { scenario: s.name, kase: 'one changed file', medians: new Map() },
  ];
  for (const b of builders) {
    const cold: number[] = [];
    for (let i = 0; i < REPS.cold; i++) {
      b.fresh();
      cold.push(b.build(ctx));
    }
    const unchanged: number[] = [];
    for (let i = 0; i < REPS.unchanged; i++) unchanged.push(b.build(ctx));
    const changed: number[] = [];
    for (let i = 0; i < REPS.changed; i++) {
      s.change(ctx, i);
      changed.push(b.build(ctx));
    }
    rows[0]!.medians.set(b.name, median(cold));
    rows[1]!.medians.set(b.name, median(unchanged));
    rows[2]!.medians.set(b.name, median(changed));
    console.error(`bench: ${s.name}: ${b.name} done`);
  }
  rmSync(ctx, { recursive: true, force: true });
  return rows;
}

try {
  execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', tsbuildTemplate], { stdio: 'pipe' });
  const builders: Builder[] = [tsbuildBuilder()];
  if (ensureBuildah()) {
    const archive = join(work, 'busybox.oci.tar');
    const ctx = join(work, 'export-ctx');
    write(join(ctx, 'Dockerfile'), 'FROM busybox\n');
    execFileSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', tsbuildTemplate, '--output', `type=oci,dest=${archive}`, ctx], { stdio: 'pipe' });
    builders.push(buildahBuilder(archive));
  } else {
    console.error('bench: buildah is not available; skipping it');
  }
  const docker = dockerBuilder();
  if (docker) builders.push(docker);
  else console.error('bench: no Docker daemon answers `docker info`; skipping docker build');

  const only = process.env.BENCH_ONLY;
  const rows = scenarios.filter((s) => !only || s.name.startsWith(only)).flatMap((s) => runScenario(s, builders));

  const startup: number[] = [];
  for (let i = 0; i < 7; i++) startup.push(timed(process.execPath, [bin, '--version']));

  const peers = builders.slice(1).map((b) => b.name);
  const head = ['scenario', 'case', 'tsbuild s', ...peers.flatMap((p) => [`${p} s`, `${p}/tsbuild`])];
  const table = rows.map((r) => {
    const t = r.medians.get('tsbuild')!;
    return [r.scenario, r.kase, (t / 1000).toFixed(3), ...peers.flatMap((p) => [(r.medians.get(p)! / 1000).toFixed(3), `${(r.medians.get(p)! / t).toFixed(1)}x`])];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(`\ntsbuild bench, ${new Date().toISOString()}, medians of ${REPS.cold} cold / ${REPS.unchanged} unchanged / ${REPS.changed} changed runs`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of table) console.log(line(row));
  console.log(`startup (tsbuild --version): ${(median(startup) / 1000).toFixed(3)} s`);
  if (!only || 'sandbox'.startsWith(only)) for (const l of await sandboxBench(repo, quick ? 1 : 3)) console.log(l);
  // layer export speed (test/bench/layers.ts), in its own process
  if (!only || 'layers'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/layers.js')], { stdio: 'inherit' });
  // registry push/pull against skopeo (test/bench/registry.ts), in its own process
  if (!only || 'registry'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/registry.js')], { stdio: 'inherit' });
  // the CI runner: a fresh store with --cache-from a registry cache (test/bench/ci-runner.ts), in its own process
  if (!only || 'ci-runner'.startsWith(only)) execFileSync(process.execPath, [join(repo, 'dist/test/bench/ci-runner.js')], { stdio: 'inherit' });
} finally {
  spawnSync('umount', ['-R', join(work, 'buildah-root', 'overlay')], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
}
