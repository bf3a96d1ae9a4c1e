/**
 * Per-step sandbox overhead (`npm run bench`, section "sandbox"): 30 trivial RUN steps.
 * - all in: a cold `tsbuild build` of 30 `RUN true` steps minus the same build with none, per step
 *   (snapshot, mount, spec, runc start, teardown, commit, layer) — target ≤ 60 ms a step;
 * - executor only: RuncExecutor.run of `true` on a fresh overlay, per network mode, both ways a rootfs is
 *   mounted: by runc inside the container (a lower stack the executor knows: every step after the first
 *   on a stack) and by mount(8) on the host (a stack it has not seen).
 */
import { median } from './stats.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncExecutor } from '../../src/executor/runc.js';
import { slirpAvailable } from '../../src/executor/slirp.js';
import type { NetworkMode } from '../../src/executor/types.js';

const STEPS = 30;


function timedBuild(bin: string, root: string, ctx: string, extra: string[] = []): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', root, ...extra, ctx], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sandbox bench build failed:\n${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** "p25–p75" of `xs`, in ms. */
function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number) => s[Math.min(s.length - 1, Math.floor((s.length - 1) * f))]!;
  return `${at(0.25).toFixed(1)}–${at(0.75).toFixed(1)}`;
}

/** Lines for the bench report. `repo` is the repository root (for bin/tsbuild and scripts/). */
export async function sandboxBench(repo: string, reps = 3): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-sandbox-'));
  const lines: string[] = [];
  try {
    const bin = join(repo, 'bin/tsbuild');
    const template = join(work, 'template');
    execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', template], { stdio: 'pipe' });
    const runs = join(work, 'runs');
    const none = join(work, 'none');
    mkdirSync(runs);
    mkdirSync(none);
    writeFileSync(join(runs, 'Dockerfile'), ['FROM busybox', ...Array.from({ length: STEPS }, (_, i) => `RUN true ${i}`), ''].join('\n'));
    writeFileSync(join(none, 'Dockerfile'), 'FROM busybox\nENV A=1\n');
    const cases: [string, string[]][] = [['host network', ['--network', 'host']]];
    if (await slirpAvailable()) cases.unshift(['default network (slirp4netns)', []]);
    for (const [name, flags] of cases) {
      const with30: number[] = [];
      const with0: number[] = [];
      for (let i = 0; i < reps; i++) {
        const root = join(work, `root-${i}`);
        rmSync(root, { recursive: true, force: true });
        cpSync(template, root, { recursive: true });
        with0.push(timedBuild(bin, root, none, flags));
        with30.push(timedBuild(bin, root, runs, flags));
      }
      const perStep = (median(with30) - median(with0)) / STEPS;
      const each = with30.map((t, i) => ((t - with0[i]!) / STEPS).toFixed(1)).join(', ');
      lines.push(`sandbox, ${STEPS} trivial RUN steps, cold build, ${name}: ${perStep.toFixed(1)} ms a step all in (target ≤ 60; runs: ${each})`);
    }

    // Executor alone: mount + spec + runc + teardown of `true`, on a rootfs that carries the container's
    // mount points (as the base image does). A lower stack seen before is mounted by runc inside the
    // container; a new one (first step after FROM) is mounted on the host first.
    const lower = join(repoRootfs(work));
    const modes: NetworkMode[] = ['host', 'none', ...((await slirpAvailable()) ? (['sandbox'] as NetworkMode[]) : [])];
    for (const hostMount of [false, true]) {
      for (const mode of modes) {
        const exec = new RuncExecutor({ stateDir: join(work, 'exec') });
        try {
          const times: number[] = [];
          for (let i = 0; i < STEPS; i++) {
            const base = join(work, `ov-${mode}-${hostMount}-${i}`);
            mkdirSync(join(base, 'upper'), { recursive: true });
            mkdirSync(join(base, 'work'));
            // A new (empty) lower on top each time makes every stack unknown: the host-mount path.
            const lowers = hostMount ? `${mkdtempSync(join(work, 'l-'))}:${lower}` : lower;
            const t = performance.now();
            await exec.run(
              [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers}`, `upperdir=${join(base, 'upper')}`, `workdir=${join(base, 'work')}`] }],
              { args: ['/bin/true'], env: [], cwd: '/', user: '' },
              { network: mode },
            );
            times.push(performance.now() - t);
          }
          const how = hostMount ? 'new lower stack: mount(8) on the host' : 'known lower stack: runc mounts the overlay';
          lines.push(`sandbox, executor only (${how}, runc run, teardown), network ${mode}: median ${median(times).toFixed(1)} ms a step (spread ${spread(times)})`);
        } finally {
          await exec.close();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return lines;
}

/** A busybox rootfs (static busybox and its applet links) under `work`. */
function repoRootfs(work: string): string {
  const dir = join(work, 'rootfs');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  cpSync('/bin/busybox', join(dir, 'bin/busybox'));
  execFileSync('sh', ['-c', `cd ${JSON.stringify(join(dir, 'bin'))} && for a in $(./busybox --list); do [ "$a" = busybox ] || ln -s busybox "$a"; done`]);
  for (const d of ['proc', 'dev', 'sys', 'etc']) mkdirSync(join(dir, d));
  for (const f of ['etc/hosts', 'etc/resolv.conf']) writeFileSync(join(dir, f), '');
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  return dir;
}
