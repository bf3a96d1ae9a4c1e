/**
 * The cache store under pressure: du, prune (keeps what a following build needs, frees what it says),
 * the automatic cap, doctor (finds and fixes corruption), two builds at once, SIGKILL at several points.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';

const sb = suiteSandbox();

let n = 0;
function project(runs: string[], data = `data ${n}\n`): string {
  const dir = join(sb.dir, `s${++n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), ['FROM busybox', 'COPY data.txt /data.txt', ...runs.map((r) => `RUN ${r}`)].join('\n') + '\n');
  writeFileSync(join(dir, 'data.txt'), data);
  return dir;
}

async function duJson(env: Record<string, string> = {}) {
  const r = await sb.tsbuild(['du', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { records: { key: string; step: string | null; snapshotSize: number; reclaimable: number }[]; total: number; metadata: number };
}

async function doctorOk() {
  const r = await sb.tsbuild(['doctor']);
  expect(r.stdout + r.stderr).toMatch(/store OK/);
  expect(r.code).toBe(0);
}

const ranSteps = (stderr: string) => [...parseSteps(stderr)].filter(([name, s]) => !s.cached && !name.startsWith('exporting')).map(([name]) => name);

describe('cache store (e2e)', () => {
  it('du lists records with sizes; prune keeps what the next build needs; --all and --keep-storage free what they say', async () => {
    const dir = project(['head -c 1000000 /dev/urandom > /big', 'echo done']);
    await sb.build(['-t', 'store:1', dir]);
    const before = await duJson();
    const big = before.records.find((r) => r.step?.includes('/dev/urandom'));
    expect(big?.snapshotSize).toBeGreaterThan(900_000);
    expect(before.total).toBeGreaterThan(1_000_000);
    expect(before.metadata).toBeGreaterThan(0);

    // A plain prune removes only unreferenced data: the next build is fully cached.
    expect((await sb.tsbuild(['prune'])).code).toBe(0);
    const runs = sb.runcRuns();
    expect(ranSteps((await sb.build(['-t', 'store:1', dir])).stderr)).toEqual([]);
    expect(sb.runcRuns()).toBe(runs);

    // --keep-storage: what it reports freed is what du sees go.
    const mid = await duJson();
    const r = await sb.tsbuild(['prune', '--keep-storage', '100KB', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { records: number; freed: number };
    const after = await duJson();
    expect(report.records).toBeGreaterThan(0);
    expect(after.total).toBeLessThan(mid.total);
    expect(Math.abs(mid.total - after.total - report.freed)).toBeLessThan(64 * 1024);
    expect(after.total - after.metadata).toBeLessThanOrEqual(100 * 1024);

    // --all: nothing of the cache is left, tags stay, and the next build works (and runs again).
    expect((await sb.tsbuild(['prune', '--all'])).code).toBe(0);
    expect((await duJson()).records).toEqual([]);
    const rebuilt = await sb.build(['-t', 'store:1', dir]);
    expect(ranSteps(rebuilt.stderr)).toContain('RUN head -c 1000000 /dev/urandom > /big');
    await doctorOk();
  });

  it('prune --filter until=DURATION drops only records unused for that long', async () => {
    const dir = project(['echo until']);
    await sb.build([dir]);
    const count = (await duJson()).records.length;
    const keep = JSON.parse((await sb.tsbuild(['prune', '--filter', 'until=1h', '--json'])).stdout) as { records: number };
    expect(keep.records).toBe(0);
    expect((await duJson()).records.length).toBe(count);
    await new Promise((res) => setTimeout(res, 1100));
    const drop = JSON.parse((await sb.tsbuild(['prune', '--filter', 'until=1s', '--json'])).stdout) as { records: number };
    expect(drop.records).toBe(count);
    expect(await sb.tsbuild(['prune', '--filter', 'since=1h'])).toMatchObject({ code: 2 });
  });

  it('a cap that cannot be applied (invalid TSBUILD_CACHE_MAX) is a warning: the build succeeds, its image is written', async () => {
    const p = project(['echo capped > /capped']);
    const out = await sb.tsbuild(['build', '--progress', 'plain', '-t', 'capped:1', p], { env: { TSBUILD_CACHE_MAX: 'garbage' } });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/WARNING: cache cap not enforced: invalid cache cap "garbage"/);
    expect((await sb.tsbuild(['images'])).stdout).toContain('capped');
  });

  it('the automatic cap bounds the cache and keeps what the last build used', async () => {
    // The base image's unpacked layers (~2 MB) and each project (~1 MB snapshot + ~1 MB layer) fit under
    // 4.5 MB, the base image with two projects does not.
    const env = { TSBUILD_CACHE_MAX: '4.5MB' };
    const a = project(['head -c 1000000 /dev/urandom > /a']);
    const b = project(['head -c 1000000 /dev/urandom > /b']);
    await sb.build([a], { env });
    await sb.build([b], { env });
    const du = await duJson();
    expect(du.total - du.metadata).toBeLessThanOrEqual(4.5 * 1024 * 1024);
    expect(du.records.some((r) => r.step?.includes('> /b'))).toBe(true);
    expect(du.records.some((r) => r.step?.includes('> /a'))).toBe(false);
    expect(ranSteps((await sb.build([b], { env })).stderr)).toEqual([]);
    await doctorOk();
  });

  it('doctor finds a corrupt blob and a bad record; --fix repairs so the next build succeeds', async () => {
    const dir = project(['echo doctor > /d']);
    await sb.build(['-t', 'doc:1', dir]);
    await doctorOk();
    const du = await duJson();
    const rec = du.records.find((r) => r.step?.includes('echo doctor'))!;
    const recordFile = join(sb.root, 'cache/records', `${rec.key.slice(7)}.json`);
    const layerDigest = (JSON.parse((await import('node:fs')).readFileSync(recordFile, 'utf8')) as { layer: { descriptor: { digest: string } } }).layer.descriptor.digest;
    writeFileSync(join(sb.root, 'content/blobs/sha256', layerDigest.slice(7)), 'garbage');
    writeFileSync(join(sb.root, 'cache/records', `${'0'.repeat(64)}.json`), '{not json');
    const bad = await sb.tsbuild(['doctor']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`PROBLEM blob ${layerDigest}`);
    expect(bad.stdout).toMatch(/PROBLEM record 0{64}\.json: not valid JSON/);
    expect(bad.stdout).toMatch(/PROBLEM image docker\.io\/library\/doc:1/);
    const fixed = await sb.tsbuild(['doctor', '--fix']);
    expect(fixed.code, fixed.stdout).toBe(0);
    await doctorOk();
    await sb.build(['-t', 'doc:1', dir]);
    await doctorOk();
  });

  it('two builds on one store at once both succeed; shared steps stay sound', async () => {
    const shared = 'head -c 300000 /dev/urandom > /shared && sleep 0.3';
    const x = project([shared, 'echo x > /x'], 'same\n');
    const y = project([shared, 'echo y > /y'], 'same\n');
    const [rx, ry] = await Promise.all([sb.tsbuild(['build', '--progress', 'plain', '-t', 'con:x', x]), sb.tsbuild(['build', '--progress', 'plain', '-t', 'con:y', y])]);
    expect(rx.code, rx.stderr).toBe(0);
    expect(ry.code, ry.stderr).toBe(0);
    await doctorOk();
    expect(ranSteps((await sb.build(['-t', 'con:x', x])).stderr)).toEqual([]);
    expect(ranSteps((await sb.build(['-t', 'con:y', y])).stderr)).toEqual([]);
  });

  it('SIGKILL at several points leaves a store the next build uses and doctor passes', async () => {
    for (const delay of [50, 200, 450, 800]) {
      // Long enough that every kill lands mid-build (the build would take over a second).
      const dir = project(['head -c 3000000 /dev/urandom > /k', 'sleep 1', 'echo k > /k2'], `kill ${delay}\n`);
      const child = sb.spawn(['build', '--progress', 'plain', '-t', 'kill:1', dir]);
      const closed = new Promise((res) => child.on('close', res));
      await new Promise((res) => setTimeout(res, delay));
      expect(child.exitCode, 'the build ended before the kill').toBeNull();
      child.kill('SIGKILL');
      await closed;
      await sb.build(['-t', 'kill:1', dir]);
      await doctorOk();
      expect(readdirSync(join(sb.root, 'content/ingest')).length).toBe(0);
    }
  }, 240_000); // four cold builds, kills and doctors: generous, the CI machine may be loaded
});
