/**
 * The "CI runner" scenario (part of `npm run bench`; also `node dist/test/bench/ci-runner.js`): every job
 * starts from a fresh store holding only the base image, builds and pushes its image to a local
 * docker-registry (HTTP on 127.0.0.1), as a CI runner does. Cases, medians of RUNS runs each:
 * - cold: no cache at all;
 * - warm remote: `--cache-from` a registry cache that an earlier job exported (`--cache-to …,mode=max`);
 * - warm remote, one changed file: the same with one source file changed.
 * Side by side with buildah 1.28 (`bud --layers --cache-from/--cache-to REPO`, then `buildah push`), its own
 * storage (./bases.ts), the busybox base copied in from an OCI archive tsbuild exported (`BENCH_CI_BUILDAH=0`:
 * tsbuild only; `BENCH_CI_ONLY=TEXT`: the workloads whose name has TEXT). Cases run interleaved. Workloads: the
 * 3-stage fixture with 200 files; 30 RUN steps writing 1 MB each with the changed file copied last; apt: on the
 * Debian minbase base (./bases.ts: debootstrap once, pushed to this bench's registry; every job of both builders
 * pulls it from there, as a CI runner does), `apt-get install` of a small package from the Debian mirror (host
 * network), then the source copied and used (the changed file reruns the steps after the apt layer, which then
 * has to be fetched: its content is needed). The apt workload is skipped when no Debian base can be made.
 */
import { median } from './stats.js';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestRegistry } from '../registry/harness.js';
import { bin, buildahStorage, ensureBuildah, publishBases, repo, write, type Bases } from './bases.js';

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const startLoad = loadavg();
const RUNS = process.env.BENCH_QUICK === '1' ? 1 : 3;
const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-ci-'));

/** One timed command: wall time and CPU time (user + system, its waited-for children included), in ms. */
interface Timing {
  wall: number;
  cpu: number;
}

/**
 * A command's wall and CPU time (GNU time's %U+%S: on this shared, loaded machine CPU time is the steadier
 * of the two); one that takes over 5 minutes is killed and counts as a failure (n/a). Async: the test
 * registry's logs are read by this process, so a blocked event loop would stall the registry.
 */
let timings = 0;
function timed(cmd: string, args: string[]): Promise<Timing> {
  const out = join(work, `time-${++timings}.txt`);
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', out, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wall = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${text.split('\n').slice(-6).join(' ')}`));
      const [u, sys] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ wall, cpu: ((u ?? 0) + (sys ?? 0)) * 1000 });
    });
  });
}

const plus = (a: Timing, b: Timing): Timing => ({ wall: a.wall + b.wall, cpu: a.cpu + b.cpu });

interface Workload {
  name: string;
  /** Its base: the local busybox every fresh store holds, or the Debian base pulled from the bench's registry. */
  base: 'busybox' | 'debian';
  /** RUN steps reach the network (host network). */
  network?: boolean;
  make(dir: string, bases: Bases): void;
  change(dir: string, i: number): void;
}

const workloads: Workload[] = [
  {
    name: '3-stage, 200 files',
    base: 'busybox',
    make(dir) {
      cpSync(join(repo, 'test/fixtures/bench/multistage'), dir, { recursive: true });
      for (let i = 0; i < 200; i++) write(join(dir, 'src', `mod${i % 10}`, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));
    },
    change: (dir, i) => write(join(dir, 'src/mod3/file3.txt'), `changed ${Date.now()} ${i}\n`),
  },
  {
    name: '30 RUN steps of 1 MB',
    base: 'busybox',
    make(dir) {
      const runs = Array.from({ length: 30 }, (_, i) => `RUN head -c 1048576 /dev/urandom > /out${i}`);
      write(join(dir, 'Dockerfile'), ['FROM busybox', ...runs, 'COPY seed.txt /seed.txt'].join('\n') + '\n');
      write(join(dir, 'seed.txt'), 'seed\n');
    },
    change: (dir, i) => write(join(dir, 'seed.txt'), `seed ${Date.now()} ${i}\n`),
  },
  {
    name: 'apt: Debian base, apt-get install, COPY source',
    base: 'debian',
    network: true,
    make(dir, b) {
      const lines = [
        `FROM ${b.debian}`,
        'RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libjq1 >/dev/null && rm -rf /var/lib/apt/lists/*',
        'COPY app.txt /app/app.txt',
        'RUN wc -c /app/app.txt > /app/size && ls /usr/lib/*/libjq.so.1 >> /app/size',
      ];
      write(join(dir, 'Dockerfile'), lines.join('\n') + '\n');
      write(join(dir, 'app.txt'), 'v0\n');
    },
    change: (dir, i) => write(join(dir, 'app.txt'), `v${Date.now()} ${i}\n`),
  },
];

interface Builder {
  name: string;
  fresh(): void;
  /** One CI job: build (with the cache flags) and push `image`. */
  job(w: Workload, ctx: string, image: string, cache: { from?: string; to?: string }): Promise<Timing>;
}

function tsbuild(template: string): Builder {
  const root = join(work, 'tsbuild-root');
  return {
    name: 'tsbuild',
    fresh() {
      rmSync(root, { recursive: true, force: true });
      cpSync(template, root, { recursive: true });
    },
    job: (w, ctx, image, cache) =>
      timed(bin, [
        'build', '--progress', 'quiet', '--root', root, '-o', `type=registry,name=${image}`,
        ...(w.network ? ['--network', 'host'] : []),
        ...(cache.from ? ['--cache-from', cache.from] : []),
        ...(cache.to ? ['--cache-to', `type=registry,ref=${cache.to},mode=max`] : []),
        ctx,
      ]),
  };
}

/** Buildah: a fresh store holds the busybox base (copied in from `archive`); the Debian base is pulled by the job. */
function buildah(archive: string): Builder {
  const storage = buildahStorage(work);
  const common = storage.common;
  const runroot = join(work, 'buildah-runroot');
  return {
    name: 'buildah',
    fresh() {
      storage.fresh();
      execFileSync('skopeo', ['copy', '-q', `oci-archive:${archive}`, `containers-storage:[overlay@${storage.root}+${runroot}]docker.io/library/busybox:latest`], { stdio: 'pipe' });
    },
    async job(w, ctx, image, cache) {
      const t = await timed('buildah', [
        ...common, 'bud', ...(w.base === 'busybox' ? ['--pull=never'] : []), '--layers', '--isolation', 'chroot', '-q', '--tls-verify=false',
        ...(w.network ? ['--network', 'host'] : []),
        ...(cache.from ? ['--cache-from', cache.from.replace(/:[^:/]+$/, '')] : []),
        ...(cache.to ? ['--cache-to', cache.to.replace(/:[^:/]+$/, '')] : []),
        '-t', image, ctx,
      ]);
      return plus(t, await timed('buildah', [...common, 'push', '-q', '--tls-verify=false', image, `docker://${image}`]));
    },
  };
}

let reg: TestRegistry | undefined;
try {
  reg = await TestRegistry.start('open');
  const template = join(work, 'tsbuild-template');
  execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', template], { stdio: 'pipe' });
  const chosen = workloads.filter((x) => !process.env.BENCH_CI_ONLY || x.name.includes(process.env.BENCH_CI_ONLY));
  const bases = chosen.some((w) => w.base === 'debian') ? await publishBases(reg.domain, work, { debian: true }) : { busybox: '' };
  const builders = [tsbuild(template)];
  if (process.env.BENCH_CI_BUILDAH === '0') console.error('bench ci-runner: BENCH_CI_BUILDAH=0: tsbuild only');
  else if (ensureBuildah()) {
    const archive = join(work, 'busybox.oci.tar');
    const ctx = join(work, 'export-ctx');
    write(join(ctx, 'Dockerfile'), 'FROM busybox\n');
    execFileSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', template, '--output', `type=oci,dest=${archive}`, ctx], { stdio: 'pipe' });
    builders.push(buildah(archive));
  } else console.error('bench ci-runner: buildah is not installed; tsbuild only');

  const rows: string[][] = [];
  // BENCH_CI_ONLY=TEXT: only the workloads whose name contains TEXT.
  for (const w of chosen) {
    if (w.base === 'debian' && !bases.debian) {
      console.error(`bench ci-runner: ${w.name}: no Debian base (debootstrap failed); skipped`);
      continue;
    }
    const ctx = join(work, 'ctx-' + w.name.replace(/[^a-z0-9]+/gi, '-'));
    w.make(ctx, bases);
    // The cache was exported by an earlier pipeline, whose checkout was older than a second when its build
    // ended: a younger one is racy for the witness (src/context/witness.ts) and keeps no travelling memo.
    await new Promise((r) => setTimeout(r, 1100));
    const res = new Map<string, Timing[]>();
    for (const b of builders) {
      const tag = `${reg.domain}/${b.name}/${w.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const cacheRef = `${tag}-cache:buildcache`;
      const cold: Timing[] = [];
      const warm: Timing[] = [];
      const changed: Timing[] = [];
      try {
        // The job that exports the cache (not timed) first, then cold, warm and changed jobs interleaved
        // run by run, so that a change in the machine's load falls on every case alike.
        b.fresh();
        await b.job(w, ctx, `${tag}:export`, { to: cacheRef });
        const copy = `${ctx}-changed`;
        for (let i = 0; i < RUNS; i++) {
          b.fresh();
          cold.push(await b.job(w, ctx, `${tag}:cold`, {}));
          b.fresh();
          warm.push(await b.job(w, ctx, `${tag}:warm`, { from: cacheRef }));
          rmSync(copy, { recursive: true, force: true });
          cpSync(ctx, copy, { recursive: true });
          w.change(copy, i);
          b.fresh();
          changed.push(await b.job(w, copy, `${tag}:changed`, { from: cacheRef }));
        }
      } catch (err) {
        console.error(`bench ci-runner: ${w.name}: ${b.name} failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
      }
      res.set(`${b.name}:cold`, cold);
      res.set(`${b.name}:warm`, warm);
      res.set(`${b.name}:changed`, changed);
      console.error(`bench ci-runner: ${w.name}: ${b.name} done`);
    }
    const med = (xs: Timing[] | undefined, k: keyof Timing) => (xs && xs.length ? median(xs.map((x) => x[k])) : undefined);
    const s = (xs: Timing[] | undefined, k: keyof Timing) => (med(xs, k) !== undefined ? (med(xs, k)! / 1000).toFixed(2) : 'n/a');
    const ratio = (a: Timing[] | undefined, b: Timing[] | undefined, k: keyof Timing) => (med(a, k) !== undefined && med(b, k) ? `${Math.round((med(a, k)! / med(b, k)!) * 100)}%` : 'n/a');
    for (const kase of ['cold', 'warm', 'changed'] as const) {
      const t = res.get(`tsbuild:${kase}`);
      const bh = res.get(`buildah:${kase}`);
      rows.push([
        w.name,
        { cold: 'cold, no cache', warm: 'cold store, --cache-from', changed: '--cache-from, 1 file changed' }[kase],
        s(t, 'wall'),
        kase === 'cold' ? '100%' : ratio(t, res.get('tsbuild:cold'), 'wall'),
        s(t, 'cpu'),
        kase === 'cold' ? '100%' : ratio(t, res.get('tsbuild:cold'), 'cpu'),
        ...(builders.length > 1 ? [s(bh, 'wall'), s(bh, 'cpu'), ratio(bh, t, 'wall')] : []),
      ]);
    }
  }
  const head = ['workload', 'case (fresh store, build + push)', 'tsbuild wall s', 'of cold', 'tsbuild CPU s', 'of cold', ...(builders.length > 1 ? ['buildah wall s', 'buildah CPU s', 'buildah/tsbuild wall'] : [])];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  console.log(`\nCI runner (issue 13), ${new Date().toISOString()}, load average ${loadavg()} (at the start: ${startLoad}), medians of ${RUNS} runs (cases interleaved; CPU = user+sys of the command and its children); target: warm ≤ 25% of cold and ≤ buildah's --cache-from`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
} finally {
  buildahStorage(work).fresh();
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
