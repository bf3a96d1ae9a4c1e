/**
 * The "CI runner" scenario (part of `npm run bench`; also `node dist/test/bench/ci-runner.js`): every job
 * starts from a fresh store holding only the base image, builds and pushes its image to a local
 * docker-registry (HTTP on 127.0.0.1), as a CI runner does. Cases, medians of RUNS runs each:
 * - cold: no cache at all;
 * - warm remote: `--cache-from` a registry cache that an earlier job exported (`--cache-to …,mode=max`);
 * - warm remote, one changed file: the same with one source file changed.
 * Side by side with buildah 1.28 (`bud --layers --cache-from/--cache-to REPO`, then `buildah push`), its own
 * storage, the base image copied in from an OCI archive tsbuild exported (`BENCH_CI_BUILDAH=0`: tsbuild only). Workloads: the 3-stage fixture
 * with 200 files; 30 RUN steps writing 1 MB each with the changed file copied last. (The apt workload of
 * issue 13 needs a Debian mirror inside the build; this machine's builds have no network, so it is not run.)
 */
import { median } from './stats.js';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestRegistry } from '../registry/harness.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'bin/tsbuild');
const RUNS = process.env.BENCH_QUICK === '1' ? 1 : 3;
const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-ci-'));

/**
 * A command's wall time; one that takes over 5 minutes is killed and counts as a failure (n/a). Async: the
 * test registry's logs are read by this process, so a blocked event loop would stall the registry.
 */
function timed(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${out.split('\n').slice(-6).join(' ')}`));
    });
  });
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

interface Workload {
  name: string;
  make(dir: string): void;
  change(dir: string, i: number): void;
}

const workloads: Workload[] = [
  {
    name: '3-stage, 200 files',
    make(dir) {
      cpSync(join(repo, 'test/fixtures/bench/multistage'), dir, { recursive: true });
      for (let i = 0; i < 200; i++) write(join(dir, 'src', `mod${i % 10}`, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));
    },
    change: (dir, i) => write(join(dir, 'src/mod3/file3.txt'), `changed ${Date.now()} ${i}\n`),
  },
  {
    name: '30 RUN steps of 1 MB',
    make(dir) {
      const runs = Array.from({ length: 30 }, (_, i) => `RUN head -c 1048576 /dev/urandom > /out${i}`);
      write(join(dir, 'Dockerfile'), ['FROM busybox', ...runs, 'COPY seed.txt /seed.txt'].join('\n') + '\n');
      write(join(dir, 'seed.txt'), 'seed\n');
    },
    change: (dir, i) => write(join(dir, 'seed.txt'), `seed ${Date.now()} ${i}\n`),
  },
];

interface Builder {
  name: string;
  fresh(): void;
  /** One CI job: build (with the cache flags) and push `image`. */
  job(ctx: string, image: string, cache: { from?: string; to?: string }): Promise<number>;
}

function tsbuild(template: string): Builder {
  const root = join(work, 'tsbuild-root');
  return {
    name: 'tsbuild',
    fresh() {
      rmSync(root, { recursive: true, force: true });
      cpSync(template, root, { recursive: true });
    },
    job: (ctx, image, cache) =>
      timed(process.execPath, [
        bin, 'build', '--progress', 'quiet', '--root', root, '-o', `type=registry,name=${image}`,
        ...(cache.from ? ['--cache-from', cache.from] : []),
        ...(cache.to ? ['--cache-to', `type=registry,ref=${cache.to},mode=max`] : []),
        ctx,
      ]),
  };
}

function buildah(archive: string): Builder {
  const root = join(work, 'buildah-root');
  const runroot = join(work, 'buildah-runroot');
  const common = ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay'];
  return {
    name: 'buildah',
    fresh() {
      spawnSync('buildah', [...common, 'rm', '--all'], { stdio: 'ignore' });
      spawnSync('umount', ['-R', join(root, 'overlay')], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
      rmSync(runroot, { recursive: true, force: true });
      execFileSync('skopeo', ['copy', '-q', `oci-archive:${archive}`, `containers-storage:[overlay@${root}+${runroot}]docker.io/library/busybox:latest`], { stdio: 'pipe' });
    },
    async job(ctx, image, cache) {
      const t = await timed('buildah', [
        ...common, 'bud', '--pull=never', '--layers', '--isolation', 'chroot', '-q', '--tls-verify=false',
        ...(cache.from ? ['--cache-from', cache.from.replace(/:[^:/]+$/, '')] : []),
        ...(cache.to ? ['--cache-to', cache.to.replace(/:[^:/]+$/, '')] : []),
        '-t', image, ctx,
      ]);
      return t + await timed('buildah', [...common, 'push', '-q', '--tls-verify=false', image, `docker://${image}`]);
    },
  };
}

let reg: TestRegistry | undefined;
try {
  reg = await TestRegistry.start('open');
  const template = join(work, 'tsbuild-template');
  execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', template], { stdio: 'pipe' });
  const builders = [tsbuild(template)];
  if (process.env.BENCH_CI_BUILDAH === '0') console.error('bench ci-runner: BENCH_CI_BUILDAH=0: tsbuild only');
  else if (spawnSync('sh', ['-c', 'command -v buildah']).status === 0) {
    const archive = join(work, 'busybox.oci.tar');
    const ctx = join(work, 'export-ctx');
    write(join(ctx, 'Dockerfile'), 'FROM busybox\n');
    execFileSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', template, '--output', `type=oci,dest=${archive}`, ctx], { stdio: 'pipe' });
    builders.push(buildah(archive));
  } else console.error('bench ci-runner: buildah is not installed; tsbuild only');

  const rows: string[][] = [];
  for (const w of workloads) {
    const ctx = join(work, 'ctx-' + w.name.replace(/[^a-z0-9]+/gi, '-'));
    w.make(ctx);
    const res = new Map<string, number[]>();
    for (const b of builders) {
      const tag = `${reg.domain}/${b.name}/${w.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const cacheRef = `${tag}-cache:buildcache`;
      const cold: number[] = [];
      const warm: number[] = [];
      const changed: number[] = [];
      try {
        for (let i = 0; i < RUNS; i++) {
          b.fresh();
          cold.push(await b.job(ctx, `${tag}:cold`, {}));
        }
        // The job that exports the cache (not timed), then fresh runners import it.
        b.fresh();
        await b.job(ctx, `${tag}:export`, { to: cacheRef });
        for (let i = 0; i < RUNS; i++) {
          b.fresh();
          warm.push(await b.job(ctx, `${tag}:warm`, { from: cacheRef }));
        }
        const copy = `${ctx}-changed`;
        for (let i = 0; i < RUNS; i++) {
          rmSync(copy, { recursive: true, force: true });
          cpSync(ctx, copy, { recursive: true });
          w.change(copy, i);
          b.fresh();
          changed.push(await b.job(copy, `${tag}:changed`, { from: cacheRef }));
        }
      } catch (err) {
        console.error(`bench ci-runner: ${w.name}: ${b.name} failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
      }
      res.set(`${b.name}:cold`, cold);
      res.set(`${b.name}:warm`, warm);
      res.set(`${b.name}:changed`, changed);
      console.error(`bench ci-runner: ${w.name}: ${b.name} done`);
    }
    const s = (xs: number[] | undefined) => (xs && xs.length ? (median(xs) / 1000).toFixed(2) : 'n/a');
    const ratio = (a: number[] | undefined, b: number[] | undefined) => (a?.length && b?.length ? `${Math.round((median(a) / median(b)) * 100)}%` : 'n/a');
    for (const kase of ['cold', 'warm', 'changed'] as const) {
      rows.push([
        w.name,
        { cold: 'cold, no cache', warm: 'cold store, --cache-from', changed: '--cache-from, 1 file changed' }[kase],
        s(res.get(`tsbuild:${kase}`)),
        kase === 'cold' ? '100%' : ratio(res.get(`tsbuild:${kase}`), res.get('tsbuild:cold')),
        ...(builders.length > 1 ? [s(res.get(`buildah:${kase}`)), ratio(res.get(`buildah:${kase}`), res.get(`tsbuild:${kase}`))] : []),
      ]);
    }
  }
  const head = ['workload', 'case (fresh store, build + push)', 'tsbuild s', 'of cold', ...(builders.length > 1 ? ['buildah s', 'buildah/tsbuild'] : [])];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(`\nCI runner (issue 13), medians of ${RUNS} runs; target: warm ≤ 25% of cold and ≤ buildah's --cache-from`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
} finally {
  spawnSync('umount', ['-R', join(work, 'buildah-root', 'overlay')], { stdio: 'ignore' });
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
