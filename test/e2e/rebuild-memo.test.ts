/**
 * The no-op rebuild memo (src/cli/rebuild-memo.ts, replay.ts), through the real CLI: an unchanged command
 * answers from its memo with the same output as the normal path; every kind of change, and every store
 * change that would make the normal path do work, sends the build down the normal path.
 * TSBUILD_MEMO_DEBUG=1 makes the CLI say which path it took.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { suiteSandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';

const sb = suiteSandbox();

const debug = { env: { TSBUILD_MEMO_DEBUG: '1' } };
let n = 0;

/** A fresh project, old enough (over a second) for the memo to vouch for its files. */
async function project(files: Record<string, string> = {}): Promise<string> {
  const dir = join(sb.dir, `m${++n}`);
  const all = {
    Dockerfile: 'FROM busybox\nCOPY src/ /src/\nRUN cat /src/a.txt /src/lib/b.txt > /all.txt\n',
    'src/a.txt': `a${n}\n`,
    'src/lib/b.txt': 'b\n',
    ...files,
  };
  for (const [rel, text] of Object.entries(all)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  await sleep(1100);
  return dir;
}

/** What the memo said: first whether it answered (`replayed` or why not), then, after a normal build, whether one was saved. */
function memoSays(stderr: string): { said: string | undefined; saved: string | undefined } {
  const lines = [...stderr.matchAll(/rebuild memo: (.*)/g)].map((m) => m[1]);
  return { said: lines[0], saved: lines[1] };
}

/** Steps of the output and whether the memo answered. */
async function build(dir: string, extra: string[] = [], tag = `memo${n}:v1`) {
  const out = await sb.build(['-t', tag, ...extra, dir], debug);
  return { out, steps: parseSteps(out.stderr), ...memoSays(out.stderr) };
}

describe('no-op rebuild memo', () => {
  it('answers an unchanged rebuild with the normal path’s output and runs nothing', async () => {
    const dir = await project();
    const cold = await build(dir);
    expect(cold.said).toBe('no memo of this command');
    expect(cold.saved).toBe('saved');
    const normal = await sb.build(['-t', `memo${n}:v1`, dir], { env: { TSBUILD_NO_MEMO: '1' } });
    const runs = sb.runcRuns();
    const again = await build(dir);
    expect(again.said).toBe('replayed');
    expect(sb.runcRuns()).toBe(runs);
    const strip = (s: string) => s.replace(/rebuild memo: .*\n/g, '').replace(/build finished in [\d.]+s/, '');
    expect(strip(again.out.stderr)).toBe(strip(normal.stderr));
    const steps = [...again.steps].filter(([name]) => name !== 'exporting to image');
    expect(steps.length).toBe(3);
    expect(steps.every(([, s]) => s.cached)).toBe(true);
  });

  it('does not answer after a file changes, is added, or the Dockerfile or .dockerignore change', async () => {
    const dir = await project();
    await build(dir);
    expect((await build(dir)).said).toBe('replayed');

    writeFileSync(join(dir, 'src/a.txt'), 'changed\n');
    let r = await build(dir);
    expect(r.said).toMatch(/src\/a\.txt changed/);
    expect(r.steps.get('COPY src/ /src/')?.cached).toBe(false);

    await sleep(1100);
    await build(dir); // saves a memo of the new state
    writeFileSync(join(dir, 'src/lib/new.txt'), 'new\n');
    r = await build(dir);
    expect(r.said).toMatch(/src\/lib changed/);
    expect(r.steps.get('COPY src/ /src/')?.cached).toBe(false);

    await sleep(1100);
    await build(dir);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY src/ /src/\nRUN cat /src/a.txt > /all.txt\n');
    r = await build(dir);
    expect(r.said).toBe('the Dockerfile or .dockerignore changed');
    expect(r.steps.get('RUN cat /src/a.txt > /all.txt')?.cached).toBe(false);

    await build(dir);
    writeFileSync(join(dir, '.dockerignore'), 'src/lib\n');
    r = await build(dir);
    expect(r.said).toBe('the Dockerfile or .dockerignore changed');
    expect(r.steps.get('COPY src/ /src/')?.cached).toBe(false);
  });

  it('does not answer when the store lost what the build used: a tag, a base image tag, the cache', async () => {
    const dir = await project();
    await build(dir);
    expect((await build(dir)).said).toBe('replayed');

    expect((await sb.tsbuild(['rmi', `memo${n}:v1`])).code).toBe(0);
    let r = await build(dir);
    expect(r.said).toMatch(/is gone/);
    expect((await sb.tsbuild(['inspect', `memo${n}:v1`])).code).toBe(0);

    expect((await build(dir)).said).toBe('replayed');
    expect((await sb.tsbuild(['prune', '--all'])).code).toBe(0);
    const runs = sb.runcRuns();
    r = await build(dir);
    expect(r.said).toMatch(/is gone/);
    expect(sb.runcRuns()).toBe(runs + 1);

    expect((await build(dir)).said).toBe('replayed');
    expect((await sb.tsbuild(['tag', `memo${n}:v1`, 'busybox:latest'])).code).toBe(0);
    r = await build(dir);
    expect(r.said).toMatch(/is gone/);
    sb.makeBaseImage();
  });

  it('keeps one memo per command: other build args or flags do not use it', async () => {
    const dir = await project({ Dockerfile: 'FROM busybox\nARG V=1\nRUN echo $V > /v\n' });
    await build(dir);
    expect((await build(dir)).said).toBe('replayed');
    const other = await build(dir, ['--build-arg', 'V=2'], `memo${n}:v2`);
    expect(other.said).toBe('no memo of this command');
    expect(other.steps.get('RUN echo $V > /v')?.cached).toBe(false);
    expect((await build(dir)).said).toBe('replayed');
    expect((await sb.tsbuild(['build', '--progress', 'plain', '--no-cache', '-t', `memo${n}:v1`, dir], debug)).stderr).not.toMatch(/rebuild memo: replayed/);
  });

  it('keeps no memo for a source path through a symlink, or files changed within the last second', async () => {
    const dir = await project({ Dockerfile: 'FROM busybox\nCOPY link/a.txt /a.txt\n' });
    symlinkSync('src', join(dir, 'link'));
    await sleep(1100);
    expect((await build(dir)).saved).toMatch(/not saved: source path link\/a\.txt resolves through a symlink/);
    expect((await build(dir)).said).toBe('no memo of this command');

    const fresh = await project();
    // An mtime in the future stays "changed less than a second ago" however slow the build is.
    utimesSync(join(fresh, 'src/a.txt'), new Date(), new Date(Date.now() + 600_000));
    expect((await build(fresh)).saved).toMatch(/not saved: .*src\/a\.txt changed less than 1000 ms ago/);
    rmSync(fresh, { recursive: true });
  });
});
