/**
 * Multi-platform builds (part of `npm run bench`; also `node dist/test/bench/multiplatform.js`, `BENCH_ONLY=multiplatform`):
 * the 3-stage workload (200 files) built cold for linux/amd64 alone, for linux/arm64 alone (every RUN under qemu
 * user-mode emulation), and for both in one build, each from a fresh copy of a store holding only a two-platform
 * busybox base (made FROM scratch by tsbuild from the host's busybox-static and Debian's busybox-static:arm64,
 * scripts/ensure-foreign-busybox.sh). The three cases alternate, RUNS rounds, so they see the same machine load;
 * medians. "emulation" is what the arm64 RUN steps took beyond the same amd64 steps in the two-platform build
 * (step times from --metadata-file), i.e. the share of the build's time that is emulation.
 */
import { median } from './stats.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'bin/tsbuild');
const RUNS = process.env.BENCH_QUICK === '1' ? 1 : 3;
const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-mp-'));

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** One build's wall time and the RUN step durations it reports, by step name. */
function build(root: string, ctx: string, platform: string): { ms: number; runs: Map<string, number> } {
  const meta = join(work, 'meta.json');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', root, '--platform', platform, '--metadata-file', meta, '-t', 'bench:latest', ctx], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`build --platform ${platform} failed (${r.status}):\n${r.stderr}`);
  const steps = (JSON.parse(readFileSync(meta, 'utf8')) as { 'tsbuild.steps': { name: string; durationMs: number }[] })['tsbuild.steps'];
  return { ms, runs: new Map(steps.filter((s) => / RUN /.test(s.name)).map((s) => [s.name, s.durationMs])) };
}

/** The sum of RUN durations of one platform's steps (`[linux/arm64 …] RUN …`). */
function runTime(runs: Map<string, number>, platform: string): number {
  return [...runs].filter(([name]) => name.startsWith(`[${platform} `)).reduce((a, [, ms]) => a + ms, 0);
}

try {
  // The two-platform base, made once into a template store.
  const template = join(work, 'template');
  const baseCtx = join(work, 'base');
  cpSync(join(repo, 'test/fixtures/multiplatform/base'), baseCtx, { recursive: true });
  const arm64 = execFileSync('bash', [join(repo, 'scripts/ensure-foreign-busybox.sh'), 'arm64'], { encoding: 'utf8' }).trim();
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const [arch, busybox] of [['amd64', '/bin/busybox'], ['arm64', arm64]] as const) {
    const dir = join(baseCtx, `rootfs-${arch}`);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    copyFileSync(busybox, join(dir, 'bin/busybox'));
    for (const a of applets) symlinkSync('busybox', join(dir, 'bin', a));
    write(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    write(join(dir, 'etc/group'), 'root:x:0:\n');
  }
  execFileSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', template, '--platform', 'linux/amd64,linux/arm64', '-t', 'busybox:latest', baseCtx], { stdio: 'pipe' });

  const ctx = join(work, 'ctx');
  cpSync(join(repo, 'test/fixtures/bench/multistage'), ctx, { recursive: true });
  for (let i = 0; i < 200; i++) write(join(ctx, 'src', `mod${i % 10}`, `file${i}.txt`), `module ${i}\n`.repeat(20 + (i % 7)));

  const cases = [
    { name: 'linux/amd64', platform: 'linux/amd64' },
    { name: 'linux/arm64 (emulated)', platform: 'linux/arm64' },
    { name: 'linux/amd64,linux/arm64', platform: 'linux/amd64,linux/arm64' },
  ];
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const armRun: number[] = [];
  const amdRun: number[] = [];
  const root = join(work, 'root');
  for (let round = 0; round < RUNS; round++) {
    for (const c of cases) {
      rmSync(root, { recursive: true, force: true });
      cpSync(template, root, { recursive: true });
      const r = build(root, ctx, c.platform);
      times.get(c.name)!.push(r.ms);
      if (c.platform.includes(',')) {
        const arm = runTime(r.runs, 'linux/arm64');
        const amd = runTime(r.runs, 'linux/amd64');
        armRun.push(arm);
        amdRun.push(amd);
      }
    }
  }
  rmSync(root, { recursive: true, force: true });
  const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  const one = median(times.get('linux/amd64')!);
  console.log(`\nmulti-platform (3-stage, 200 files; cold, base in the store), medians of ${RUNS} alternating rounds`);
  for (const c of cases) {
    const m = median(times.get(c.name)!);
    console.log(`  ${c.name.padEnd(26)} ${s(m).padStart(9)}  ${(m / one).toFixed(2)}x of linux/amd64`);
  }
  const both = median(times.get('linux/amd64,linux/arm64')!);
  const emulation = median(armRun) - median(amdRun);
  console.log(
    `  in the two-platform build: RUN steps took ${s(median(amdRun))} (amd64) and ${s(median(armRun))} (arm64, emulated); ` +
      `emulation ≈ the difference, ${s(emulation)}, ${((emulation / both) * 100).toFixed(0)}% of its wall time (the two platforms' RUNs overlap on 2 cores)`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
