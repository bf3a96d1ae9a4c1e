/**
 * `tsbuild bench` end to end on a fixture whose change costs are known by construction (RUN steps that
 * sleep 3 s and 1 s): the ranking of what a change costs, measured (all-files, change=) and estimated;
 * hints backed by a measurement; the --json document against schemas/bench-report.schema.json; the
 * --html page in chromium; --compare; and the user's store left as it was.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { suiteSandbox } from './harness.js';
import { validate } from '../src/cli/bench/json-schema.js';
import { openPage } from '../src/cli/report/browser.js';
import type { BenchReport } from '../../src/cli/bench/types.js';

const sb = suiteSandbox();
const schema = JSON.parse(readFileSync(join(__dirname, '../../schemas/bench-report.schema.json'), 'utf8')) as Record<string, unknown>;

/** Every path in the store with its size and mtime (to prove the bench never touched it). */
function storeListing(dir: string, out: string[] = [], root = dir): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    out.push(`${relative(root, p)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
    if (st.isDirectory() && !st.isSymbolicLink()) storeListing(p, out, root);
  }
  return out.sort();
}

const byName = (r: BenchReport, name: string) => r.scenarios.find((s) => s.name === name)!;
const sources = (r: BenchReport) => r.changeCosts.map((c) => c.sources.join(' '));

describe('tsbuild bench', () => {
  it('measures scenarios, ranks change costs (measured and estimated), writes valid JSON and a report page; all-files measures every group and --compare sets two benches side by side', { timeout: 900_000 }, async () => {
    const ctx = sb.context('bench/change-cost');
    await sb.build([ctx]); // the user's store knows this build already
    const before = storeListing(sb.root);
    const first = join(sb.dir, 'first.json');
    const html = join(sb.dir, 'first.html');
    const out = await sb.tsbuild(['bench', '--runs', '1', '--scenario', 'cold,noop,change=src,arg=FLAVOR=spicy,base', '--json', first, '--html', html, ctx]);
    expect(out.code, out.stderr).toBe(0);
    const r = JSON.parse(readFileSync(first, 'utf8')) as BenchReport;
    expect(validate(schema, r)).toEqual([]);
    expect(storeListing(sb.root)).toEqual(before);

    expect(r.scenarios.map((s) => s.name)).toEqual(['noop', 'cold', 'change=src', 'arg=FLAVOR=spicy', 'base']);
    // An updated base image (new digest, same layers) reruns every step.
    expect(byName(r, 'base').ran).toBe(r.steps.length);
    const cold = byName(r, 'cold');
    expect(cold.ran).toBe(r.steps.length);
    expect(cold.cached).toBe(0);
    expect(byName(r, 'noop').ran).toBe(0);
    expect(byName(r, 'noop').cached).toBe(r.steps.length);
    const change = byName(r, 'change=src');
    expect(change.changedFile).toBe('src/main.txt'); // a directory: its first file
    const ranNames = change.run.steps.filter((s) => s.status === 'ran').map((s) => r.steps.find((x) => x.id === s.id)!.name);
    expect(ranNames).toEqual(['[app 4/6] COPY src/ ./src/', '[app 5/6] RUN sleep 1 && cat src/* > /app/bundle.txt', '[app 6/6] COPY --from=docs /docs.txt ./']);
    const copy = change.run.steps.find((s) => s.status === 'ran')!;
    expect(copy.cacheMiss!.join(' ')).toContain('src/main.txt');
    // src/ measured; deps/ and docs.txt estimated from the measured step times; ranked by what they cost.
    expect(sources(r)).toEqual(['deps', 'src', 'docs.txt']);
    expect(r.changeCosts.map((c) => c.basis)).toEqual(['estimated', 'measured', 'estimated']);
    expect(r.changeCosts[0]!.costMs).toBeGreaterThan(r.changeCosts[1]!.costMs);
    expect(r.changeCosts[1]!.costMs).toBeGreaterThan(r.changeCosts[2]!.costMs);
    // The critical path of the cold build goes through the 3 s step.
    expect(cold.criticalPath.steps.map((id) => r.steps.find((s) => s.id === id)!.name)).toContain('[deps 4/4] RUN sleep 3 && echo "$FLAVOR" > /deps.lock && cat deps/* >> /deps.lock');
    expect(cold.bytesReadFromContext).toBe(['deps/list.txt', 'src/main.txt', 'docs.txt'].reduce((n, f) => n + statSync(join(ctx, f)).size, 0));
    expect(cold.bytesWritten).toBeGreaterThan(0);
    // Hints backed by measurements: the arg rerun, and the stage nothing reaches.
    expect(r.hints.map((h) => h.kind).sort()).toEqual(['early-arg', 'unreachable-stage']);
    expect(r.hints.find((h) => h.kind === 'early-arg')!.message).toContain('FLAVOR');
    expect(r.unreachableStages).toEqual(['leftover']);
    expect(out.stdout).toContain('What a change costs');

    // The page: no network, one bar per step in each scenario's timeline, a bar's miss reason on click.
    const { page, requests, close } = await openPage(html);
    try {
      expect(requests).toEqual([]);
      expect(await page.locator('section.timeline').count()).toBe(r.scenarios.length);
      for (let i = 0; i < r.scenarios.length; i++) expect(await page.locator(`section.timeline[data-timeline="${i}"] .bar`).count()).toBe(r.steps.length);
      const i = r.scenarios.indexOf(change);
      await page.locator(`.bar[data-step="${i}:${copy.id}"]`).click();
      expect(await page.locator('#detail').innerText()).toContain(copy.cacheMiss![0]!);
    } finally {
      await close();
    }

    // all-files: every COPY group changed in turn, measured; --compare against the first bench.
    const second = join(sb.dir, 'second.json');
    const out2 = await sb.tsbuild(['bench', '--runs', '1', '--scenario', 'all-files', '--json', second, '--compare', first, ctx]);
    expect(out2.code, out2.stderr).toBe(0);
    const r2 = JSON.parse(readFileSync(second, 'utf8')) as BenchReport;
    expect(validate(schema, r2)).toEqual([]);
    expect(r2.scenarios.map((s) => s.name).sort()).toEqual(['change=deps/list.txt', 'change=docs.txt', 'change=src/main.txt']);
    expect(sources(r2)).toEqual(['deps', 'src', 'docs.txt']);
    expect(r2.changeCosts.every((c) => c.basis === 'measured')).toBe(true);
    expect(r2.changeCosts[0]!.costMs).toBeGreaterThan(r2.changeCosts[1]!.costMs);
    expect(r2.changeCosts[1]!.costMs).toBeGreaterThan(r2.changeCosts[2]!.costMs);
    expect(out2.stdout).toContain('Compared with the earlier bench');
    expect(out2.stdout).toMatch(/change=src\/main\.txt\s+\S+ s\s+\S+ s\s+[+−]/);
    expect(storeListing(sb.root)).toEqual(before);
  });

  it('--in-place benches in the user\'s store; COPY of the whole context before an install gives the copy-before-install and cache-mount hints', { timeout: 600_000 }, async () => {
    const ctx = sb.context('bench/install');
    await sb.build([ctx]);
    const before = storeListing(sb.root);
    const json = join(sb.dir, 'install.json');
    const out = await sb.tsbuild(['bench', '--in-place', '--runs', '1', '--scenario', 'noop,change=app.js', '--json', json, ctx]);
    expect(out.code, out.stderr).toBe(0);
    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(validate(schema, r)).toEqual([]);
    expect(r.inPlace).toBe(true);
    // The change build's steps were cached in the user's own store (without --in-place it stays as it was).
    expect(storeListing(sb.root)).not.toEqual(before);
    const kinds = r.hints.map((h) => h.kind).sort();
    expect(kinds).toEqual(['cache-mount', 'copy-before-install']);
    expect(r.hints.find((h) => h.kind === 'copy-before-install')!.message).toMatch(/^`COPY \. \.` \(line 5\) comes before `RUN sleep 1\.5 && echo "pretend: npm install" > \/app\/installed` \(line 6\): every source change reruns it/);
    expect(r.hints.find((h) => h.kind === 'cache-mount')!.message).toContain('RUN --mount=type=cache,target=/root/.npm');
    // Per step: the bytes the COPY read from the context when it ran.
    const change = byName(r, 'change=app.js');
    const copyId = r.steps.find((s) => s.name.includes('COPY . .'))!.id;
    expect(change.stepBytes?.find((b) => b.step === copyId)?.read).toBe(['Dockerfile', 'app.js'].reduce((n, f) => n + statSync(join(ctx, f)).size, 0));
    expect(change.stepBytes?.find((b) => b.step === copyId)?.written).toBeGreaterThan(0);
    // --in-place never runs cold or base (they would empty the cache or change the user's base images).
    const cold = await sb.tsbuild(['bench', '--in-place', '--scenario', 'cold', ctx]);
    expect(cold.code).toBe(2);
    expect(cold.stderr).toContain('--in-place cannot run the cold or base scenarios');
  });

  it('answers bad input with a usage error', async () => {
    const ctx = sb.context('bench/change-cost');
    const bad = await sb.tsbuild(['bench', '--scenario', 'warm', ctx]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid --scenario "warm"');
    const missing = await sb.tsbuild(['bench', '--scenario', 'change=nope.txt', '--runs', '1', ctx]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('change=nope.txt: no such file or directory in the build context');
    const runs = await sb.tsbuild(['bench', '--runs', '0', ctx]);
    expect(runs.stderr).toContain('invalid --runs "0"');
    const cmp = await sb.tsbuild(['bench', '--compare', join(ctx, 'docs.txt'), ctx]);
    expect(cmp.code).toBe(2);
    expect(cmp.stderr).toContain('cannot read it as JSON');
  });
});
