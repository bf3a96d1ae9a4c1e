/**
 * The store heals itself: blobs of a pulled base image deleted or corrupted are fetched again from the
 * registry (real docker-registry) with one warning; deleted snapshots are made again from their layer
 * blobs (same image, no step runs); a step whose snapshot and layer are both gone runs again, explained
 * "cached result missing: rebuilt"; what cannot be recovered is an error naming `tsbuild doctor --fix`.
 * After each repair `tsbuild doctor` finds the store consistent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import type { Manifest } from '../../src/image/types.js';
import { Sandbox } from './harness.js';
import { TestRegistry } from '../registry/harness.js';
import { busyboxImage } from '../registry/images.js';

let reg: TestRegistry;
let sb: Sandbox;
let ctx: string;
/** Every blob of the base image: manifest, config, layers. */
let baseBlobs: string[];
let baseLayers: string[];
let firstDigest: string;

const blobPath = (d: string) => join(sb.root, 'content', 'blobs', 'sha256', d.slice(7));
const imageDigest = (stderr: string) => /writing image (sha256:[0-9a-f]{64})/.exec(stderr)?.[1];
const warnings = (stderr: string) => stderr.split('\n').filter((l) => /missing or corrupt|was (missing|corrupt) in the local store/.test(l));

/** Keys of every snapshot's metadata. */
function metaKeys(): string[] {
  const meta = join(sb.root, 'snapshots', 'meta');
  return readdirSync(meta)
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => (JSON.parse(readFileSync(join(meta, n), 'utf8')) as { key: string }).key);
}

async function doctorOK(): Promise<void> {
  const out = await sb.tsbuild(['doctor']);
  expect(out.stdout, out.stdout + out.stderr).toMatch(/store OK/);
  expect(out.code).toBe(0);
}

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  sb = new Sandbox();
  const src = new LocalContentStore(join(sb.dir, 'fixture-content'));
  const img = await busyboxImage(src, { extra: 2, unique: 'heal' });
  await new RegistryClient({ credentials: async () => undefined }).push([`${reg.domain}/base:v1`], img.manifest, { content: src });
  const m = JSON.parse((await src.read(img.manifest.digest)).toString()) as Manifest;
  baseLayers = m.layers.map((l) => l.digest);
  baseBlobs = [img.manifest.digest, m.config.digest, ...baseLayers];
  ctx = join(sb.dir, 'ctx');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${reg.domain}/base:v1\nCOPY a.txt /a.txt\nRUN head -c 16 /dev/urandom > /r\n`);
  writeFileSync(join(ctx, 'a.txt'), 'a\n');
  const first = await sb.build(['-t', 'healed:1', ctx]);
  firstDigest = imageDigest(first.stderr)!;
  expect(firstDigest).toBeDefined();
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  sb?.cleanup();
});

describe('self-healing store', () => {
  it('blobs of a pulled base image deleted: fetched again, one warning, same image', async () => {
    for (const d of baseBlobs) rmSync(blobPath(d));
    const runs = sb.runcRuns();
    const out = await sb.build(['-t', 'healed:1', ctx]);
    expect(imageDigest(out.stderr)).toBe(firstDigest);
    expect(warnings(out.stderr), out.stderr).toHaveLength(1);
    expect(sb.runcRuns()).toBe(runs); // the RUN's record was used, not run again
    for (const d of baseBlobs) expect(readdirSync(join(sb.root, 'content', 'blobs', 'sha256'))).toContain(d.slice(7));
    await doctorOK();
  }, 120_000);

  it('the same with --no-cache (which used to fail until doctor --fix)', async () => {
    for (const d of baseBlobs) rmSync(blobPath(d));
    const out = await sb.build(['--no-cache', ctx]);
    expect(warnings(out.stderr), out.stderr).toHaveLength(1);
    await doctorOK();
    // --no-cache wrote new records (the RUN ran again): the image of a cached build is now this one.
    firstDigest = imageDigest((await sb.build(['-t', 'healed:1', ctx])).stderr)!;
    expect(firstDigest).toBe(imageDigest(out.stderr));
  }, 120_000);

  it('every snapshot deleted: made again from the layer blobs, same image, no step runs', async () => {
    rmSync(join(sb.root, 'snapshots'), { recursive: true, force: true });
    const runs = sb.runcRuns();
    const out = await sb.build(['-t', 'healed:1', ctx]);
    expect(imageDigest(out.stderr)).toBe(firstDigest);
    expect(warnings(out.stderr)).toHaveLength(0);
    expect(sb.runcRuns()).toBe(runs);
    // A step on top runs on the restored snapshot: it sees the RUN's file.
    const next = join(sb.dir, 'ctx-next');
    mkdirSync(next, { recursive: true });
    writeFileSync(join(next, 'Dockerfile'), readFileSync(join(ctx, 'Dockerfile'), 'utf8') + 'RUN test -s /r && cat /a.txt\n');
    writeFileSync(join(next, 'a.txt'), 'a\n');
    rmSync(join(sb.root, 'snapshots'), { recursive: true, force: true });
    const more = await sb.build([next]);
    expect(sb.runcRuns()).toBe(runs + 1);
    expect(more.stderr).toMatch(/RUN head -c 16 \/dev\/urandom > \/r\n#\d+ CACHED/);
    await doctorOK();
  }, 120_000);

  it('a snapshot whose directory is gone (metadata left) is made again', async () => {
    const dirs = readdirSync(join(sb.root, 'snapshots')).filter((n) => /^[0-9a-f]{8}$/.test(n));
    for (const d of dirs) rmSync(join(sb.root, 'snapshots', d), { recursive: true });
    const runs = sb.runcRuns();
    const out = await sb.build(['-t', 'healed:1', ctx]);
    expect(imageDigest(out.stderr), out.stderr).toBe(firstDigest);
    expect(sb.runcRuns()).toBe(runs);
    // A step on top mounts them: each is made again in place (no broken snapshot left for doctor).
    const next = join(sb.dir, 'ctx-top');
    mkdirSync(next, { recursive: true });
    writeFileSync(join(next, 'Dockerfile'), readFileSync(join(ctx, 'Dockerfile'), 'utf8') + 'RUN test -s /r && cat /a.txt && echo top\n');
    writeFileSync(join(next, 'a.txt'), 'a\n');
    const variants = () => metaKeys().filter((k) => k.includes('~')).length;
    const before = variants();
    await sb.build([next]);
    expect(sb.runcRuns()).toBe(runs + 1);
    expect(variants()).toBe(before); // made again under their own names, not as variants beside the broken ones
  }, 120_000);

  it('a base image snapshot whose directory is gone (metadata left) is made again in place when a step runs on it', async () => {
    await sb.build(['-t', 'healed:1', ctx]);
    const meta = join(sb.root, 'snapshots', 'meta');
    const chains = readdirSync(meta)
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => JSON.parse(readFileSync(join(meta, n), 'utf8')) as { key: string; id: string })
      .filter((m) => m.key.startsWith('chain:'));
    expect(chains.length).toBe(baseLayers.length);
    for (const m of chains) rmSync(join(sb.root, 'snapshots', m.id), { recursive: true });
    const next = join(sb.dir, 'ctx-on-base');
    mkdirSync(next, { recursive: true });
    writeFileSync(join(next, 'Dockerfile'), `FROM ${reg.domain}/base:v1\nRUN test -x /bin/sh && echo on-base > /on-base\n`);
    const runs = sb.runcRuns();
    const out = await sb.tsbuild(['build', '--progress', 'plain', next]);
    expect(out.stderr).not.toMatch(/\n\s+at /);
    expect(out.code, out.stderr).toBe(0);
    expect(sb.runcRuns()).toBe(runs + 1);
    for (const m of chains) expect(readdirSync(join(sb.root, 'snapshots', m.id, 'fs')).length, m.key).toBeGreaterThan(0);
    // (The tests above may leave other snapshots broken on purpose; the base image's are whole again.)
    expect((await sb.tsbuild(['doctor'])).stdout).not.toMatch(/PROBLEM snapshot chain:/);
  }, 120_000);

  it('a corrupt base layer blob is fetched again when it must be unpacked', async () => {
    rmSync(join(sb.root, 'snapshots'), { recursive: true, force: true });
    const layer = blobPath(baseLayers[1]!);
    const bytes = readFileSync(layer);
    bytes[bytes.length >> 1]! ^= 0xff;
    rmSync(layer);
    writeFileSync(layer, bytes);
    const out = await sb.build(['-t', 'healed:1', ctx]);
    expect(imageDigest(out.stderr), out.stderr).toBe(firstDigest);
    expect(warnings(out.stderr), out.stderr).toHaveLength(1);
    expect(warnings(out.stderr)[0]).toMatch(/corrupt/);
    await doctorOK();
  }, 120_000);

  it('a step whose snapshot and layer are both gone runs again: "cached result missing: rebuilt"', async () => {
    const recs = join(sb.root, 'cache', 'records');
    const run = readdirSync(recs)
      .map((n) => JSON.parse(readFileSync(join(recs, n), 'utf8')) as { name?: string; layer?: { descriptor: { digest: string } } })
      .find((r) => r.name?.includes('urandom') && r.layer);
    expect(run).toBeDefined();
    rmSync(join(sb.root, 'snapshots'), { recursive: true, force: true });
    rmSync(blobPath(run!.layer!.descriptor.digest), { force: true });
    const runs = sb.runcRuns();
    const out = await sb.build(['--explain', '-t', 'healed:1', ctx]);
    expect(sb.runcRuns()).toBe(runs + 1);
    expect(out.stderr).toContain('cached result missing: rebuilt');
    await doctorOK();
  }, 120_000);

  it('what cannot be recovered (a local image lost a blob) is an error naming doctor --fix', async () => {
    const local = join(sb.dir, 'ctx-local');
    mkdirSync(local, { recursive: true });
    writeFileSync(join(local, 'Dockerfile'), 'FROM local-base:1\nRUN echo on-top\n');
    const base = join(sb.dir, 'ctx-local-base');
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, 'Dockerfile'), `FROM ${reg.domain}/base:v1\nRUN echo local > /local\n`);
    const made = imageDigest((await sb.build(['-t', 'local-base:1', base])).stderr)!;
    rmSync(join(sb.root, 'snapshots'), { recursive: true, force: true });
    const m = JSON.parse(readFileSync(blobPath(made), 'utf8')) as Manifest;
    rmSync(blobPath(m.layers.at(-1)!.digest));
    const out = await sb.tsbuild(['build', '--progress', 'plain', local]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('tsbuild doctor --fix');
    expect(out.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 120_000);

  it('doctor --fix removes snapshots left broken (directory gone) with those based on them; the next build restores them', async () => {
    const want = imageDigest((await sb.build(['-t', 'healed:1', ctx])).stderr);
    const top = join(sb.dir, 'ctx-fix');
    mkdirSync(top, { recursive: true });
    writeFileSync(join(top, 'Dockerfile'), readFileSync(join(ctx, 'Dockerfile'), 'utf8') + 'RUN echo fix > /fix\n');
    writeFileSync(join(top, 'a.txt'), 'a\n');
    await sb.build([top]);
    const dirs = readdirSync(join(sb.root, 'snapshots')).filter((n) => /^[0-9a-f]{8}$/.test(n));
    for (const d of dirs) rmSync(join(sb.root, 'snapshots', d), { recursive: true });
    await sb.build(['-t', 'healed:1', ctx]); // all cached: makes no snapshot again, the broken ones stay
    const before = await sb.tsbuild(['doctor']);
    expect(before.stdout).toMatch(/PROBLEM snapshot .*: its directory is missing/);
    const meta = join(sb.root, 'snapshots', 'meta');
    const parents = readdirSync(meta)
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => (JSON.parse(readFileSync(join(meta, n), 'utf8')) as { parent?: string }).parent);
    expect(parents.filter((p) => p !== undefined && metaKeys().includes(p)).length).toBeGreaterThan(0); // broken ones with dependents
    const fix = await sb.tsbuild(['doctor', '--fix']);
    expect(fix.stdout).toMatch(/FIXED snapshot /);
    expect(fix.stdout).not.toMatch(/^PROBLEM/m);
    expect(fix.code, fix.stdout).toBe(0);
    await doctorOK();
    const runs = sb.runcRuns();
    const out = await sb.build(['-t', 'healed:1', ctx]);
    expect(imageDigest(out.stderr)).toBe(want);
    const again = await sb.build([top]);
    expect(again.stderr).toMatch(/RUN echo fix > \/fix\n#\d+ CACHED/);
    expect(sb.runcRuns()).toBe(runs); // restored from the records' layer blobs: no step runs
    await doctorOK();
  }, 120_000);
});
