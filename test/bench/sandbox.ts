/**
 * Per-step sandbox overhead (`npm run bench`, section "sandbox"; alone: `BENCH_ONLY=sandbox`): 30 trivial RUN steps.
 * - all in: a cold build of 30 `RUN true N` steps minus the same build with none, per step (snapshot, mount,
 *   spec, runc start, teardown, commit, layer), tsbuild side by side with the reference BuildKit v0.13
 *   (./builders.ts), both FROM the bench registry's busybox (./bases.ts). tsbuild: a fresh store each time
 *   that holds the base already (pulled into a template once); BuildKit: `--no-cache` (its daemon holds the
 *   base after one untimed build). The four builds of a round alternate (0 steps by both, then 30 by both;
 *   tsbuild first in even rounds, BuildKit first in odd ones), each after a sync(1), so both see the same
 *   load and neither pays for the other's writeback. Target: tsbuild/BuildKit ≤ 1.00 (issue 15). Host network for
 *   both; the default network (slirp4netns) is tsbuild's alone (the reference daemon has no bridge network);
 * - executor only: RuncExecutor.run of `true` on a fresh overlay, per network mode, both ways a rootfs is
 *   mounted: by runc inside the container (a lower stack the executor knows: every step after the first
 *   on a stack) and by mount(8) on the host (a stack it has not seen).
 */
import { median } from './stats.js';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncExecutor } from '../../src/executor/runc.js';
import { slirpAvailable } from '../../src/executor/slirp.js';
import type { NetworkMode } from '../../src/executor/types.js';
import { buildkitBuilder, timed } from './builders.js';

const STEPS = 30;

/** "p25–p75" of `xs`, in ms. */
function spread(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number) => s[Math.min(s.length - 1, Math.floor((s.length - 1) * f))]!;
  return `${at(0.25).toFixed(1)}–${at(0.75).toFixed(1)}`;
}

export interface SandboxBenchOptions {
  /** Rounds of the all-in measurement. */
  reps: number;
  /** The bench's registry (host:port, plain HTTP) and its busybox (`REGISTRY/bench/busybox:latest`). */
  registry: string;
  busybox: string;
  /** Measure the reference BuildKit beside tsbuild (when it is available). */
  buildkit: boolean;
}

/** Lines for the bench report. `repo` is the repository root (for bin/tsbuild and scripts/). */
export async function sandboxBench(repo: string, opts: SandboxBenchOptions): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-sandbox-'));
  const lines: string[] = [];
  try {
    const bin = join(repo, 'bin/tsbuild');
    const runs = join(work, 'runs');
    const none = join(work, 'none');
    mkdirSync(runs);
    mkdirSync(none);
    writeFileSync(join(runs, 'Dockerfile'), [`FROM ${opts.busybox}`, ...Array.from({ length: STEPS }, (_, i) => `RUN true ${i}`), ''].join('\n'));
    writeFileSync(join(none, 'Dockerfile'), `FROM ${opts.busybox}\nENV A=1\n`);
    const tsbuild = (root: string, ctx: string, flags: string[]) =>
      timed(bin, ['build', '--progress', 'quiet', '--root', root, '--insecure-registry', opts.registry, ...flags, ctx]);
    // A store that holds the base image and no build cache: each round starts from a copy of it.
    const template = join(work, 'template');
    await tsbuild(template, none, []);
    const bk = opts.buildkit ? buildkitBuilder('bench-sandbox:latest') : undefined;
    if (opts.buildkit && !bk) console.error('bench sandbox: the reference BuildKit is not available; tsbuild only');
    if (bk) await bk.build(none, { kind: 'none' }); // its daemon pulls the base once
    const cases: [string, string[], boolean][] = [['host network', ['--network', 'host'], true]];
    if (await slirpAvailable()) cases.unshift(['default network (slirp4netns)', [], false]);
    for (const [name, flags, withPeer] of cases) {
      const ts = { with30: [] as number[], with0: [] as number[] };
      const peer = { with30: [] as number[], with0: [] as number[] };
      const peerToo = withPeer && bk !== undefined;
      for (let i = 0; i < opts.reps; i++) {
        const root = join(work, `root-${i}`);
        rmSync(root, { recursive: true, force: true });
        cpSync(template, root, { recursive: true });
        // Each build starts with no dirty pages of the one before (its writeback would slow the next
        // one's fsyncs), and which builder goes first alternates by round.
        const clean = <T>(f: () => Promise<T>): Promise<T> => (execFileSync('sync'), f());
        const both = async (ctx: string, t: number[], p: number[]) => {
          const mine = () => clean(() => tsbuild(root, ctx, flags)).then((ms) => void t.push(ms));
          const theirs = () => (peerToo ? clean(() => bk.build(ctx, { kind: 'none' }, ['--no-cache'])).then((ms) => void p.push(ms)) : Promise.resolve());
          if (i % 2 === 0) await mine().then(theirs);
          else await theirs().then(mine);
        };
        await both(none, ts.with0, peer.with0);
        await both(runs, ts.with30, peer.with30);
        rmSync(root, { recursive: true, force: true });
      }
      const perStep = (t: typeof ts) => (median(t.with30) - median(t.with0)) / STEPS;
      const each = (t: typeof ts) => t.with30.map((x, i) => ((x - t.with0[i]!) / STEPS).toFixed(1)).join(', ');
      const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
      if (peerToo) {
        lines.push(
          `sandbox, ${STEPS} trivial RUN steps, cold build, ${name}: tsbuild ${perStep(ts).toFixed(1)} ms a step all in, ` +
            `BuildKit ${perStep(peer).toFixed(1)} ms: tsbuild/BuildKit ${(perStep(ts) / perStep(peer)).toFixed(2)}x (target ≤ 1.00; ` +
            `runs: tsbuild ${each(ts)}; BuildKit ${each(peer)}; load ${load})`,
        );
      } else {
        const why = withPeer ? 'BuildKit not measured' : 'BuildKit n/a: the reference daemon has no bridge network';
        lines.push(`sandbox, ${STEPS} trivial RUN steps, cold build, ${name}: tsbuild ${perStep(ts).toFixed(1)} ms a step all in (${why}; runs: ${each(ts)}; load ${load})`);
      }
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
