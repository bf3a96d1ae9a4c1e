/**
 * Lazy base-image layers (issue 13, "Lazy"), through a real registry (docker-registry 2.8) behind the counting
 * proxy. A build with --cache-from resolves a registry base image from its manifest and config alone; its layer
 * blobs come only when something needs their bytes:
 * - every step CACHED and the output a push to the base's registry: no layer blob is downloaded (base layers
 *   included: they are mounted), the pushed image is complete (skopeo copies it), the store is consistent
 *   (`doctor`), and a second build accepts the image whose layers are absent (no "missing" repair);
 *   `tsbuild save` of the base then fetches its layers;
 * - a step misses: the base layers are fetched then and the step runs on them;
 * - a docker archive output, or --load (a stand-in daemon socket): the base layers are fetched for it, the
 *   archive is complete;
 * - a push to another registry: the base layers are fetched and uploaded, the image is complete;
 * - `-t` (the image store's output) keeps whole images: the base layers are fetched; `tsbuild push` of it
 *   then mounts them within the registry and uploads them to another;
 * - a later build without --cache-from on a store holding the lazy base: fetched when a step runs on them;
 * - the registry is gone when the layers are needed: a clear error naming the image and the layer, exit 1,
 *   the store consistent;
 * - the travelling rebuild memo (src/cli/travel-replay.ts) answers a fresh machine's job on a registry base:
 *   the base checked by tag (one HEAD), its layers mounted from where the exporting job pushed its image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, standInDockerDaemon } from '../e2e/harness.js';
import { parseSteps } from '../e2e/cache-steps.js';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import type { Manifest } from '../../src/image/types.js';
import { busyboxImage } from './images.js';
import { CountingProxy, TestRegistry } from './harness.js';

const execFileP = promisify(execFile);
// These tests are about the normal path's lazy base layers: the travelling rebuild memo, which would answer
// some of these jobs before the builder loads, is off except in the test that is about it (the last one).
const env = { TSBUILD_REGISTRY_RETRIES: '1', TSBUILD_NO_MEMO: '1' };
const boxes: Sandbox[] = [];
let open: TestRegistry;
let proxy: CountingProxy;
let work: Sandbox;
let ctx = '';
let baseRef = '';
let cacheRef = '';
let baseLayers: string[] = [];
let cacheLayers: string[] = [];

function sandbox(): Sandbox {
  const s = new Sandbox();
  boxes.push(s);
  return s;
}

/** Push a 3-layer busybox image to `ref`; its layer digests. */
async function pushBase(ref: string, unique: string): Promise<string[]> {
  const src = new LocalContentStore(join(work.dir, `content-${unique}`));
  const img = await busyboxImage(src, { extra: 2, unique });
  await new RegistryClient({ credentials: async () => undefined }).push([ref], img.manifest, { content: src });
  return (JSON.parse((await src.read(img.manifest.digest)).toString()) as Manifest).layers.map((l) => l.digest);
}

function context(from: string, text: string): string {
  const dir = join(work.dir, `ctx-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${from}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n`);
  writeFileSync(join(dir, 'a.txt'), text);
  return dir;
}

async function build(sb: Sandbox, args: string[], extra: Record<string, string> = {}) {
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...args], { env: { ...env, ...extra } });
  return { ...out, text: out.stderr + out.stdout };
}

const steps = (out: string) => [...parseSteps(out)].filter(([name]) => !/^(exporting|importing|pulling|pushing|FROM )/.test(name));
const ran = (out: string) => steps(out).filter(([, s]) => !s.cached).map(([name]) => name);
const blobGets = (digests: string[]) => proxy.requests.filter((r) => r.method === 'GET' && digests.some((d) => r.path.includes(`/blobs/${d}`)));
const skopeoDigest = async (ref: string) => (JSON.parse((await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout) as { Digest: string }).Digest;

async function doctorOK(sb: Sandbox): Promise<void> {
  const out = await sb.tsbuild(['doctor']);
  expect(out.stdout + out.stderr).toMatch(/store OK/);
  expect(out.code).toBe(0);
}

/** Copy the image to an OCI layout with skopeo (which fetches and checks every blob). */
async function skopeoCopies(ref: string): Promise<void> {
  const dest = join(work.dir, `oci-${Math.random().toString(36).slice(2)}`);
  await execFileP('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}:x`]);
}

beforeAll(async () => {
  open = await TestRegistry.start('open');
  proxy = await new CountingProxy(open.port).start();
  work = sandbox();
  baseRef = `${proxy.domain}/base/lazy:v1`;
  baseLayers = await pushBase(baseRef, 'lazy-base');
  ctx = context(baseRef, 'a\n');
  cacheRef = `${proxy.domain}/cache/lazy:c`;
  const a = sandbox();
  const out = await build(a, ['--cache-to', `type=registry,ref=${cacheRef},mode=max`, '-o', `type=registry,name=${proxy.domain}/app/lazy:a`, ctx]);
  expect(out.code, out.text).toBe(0);
  const m = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRef}`])).stdout) as Manifest;
  cacheLayers = m.layers.map((l) => l.digest);
  expect(cacheLayers.length).toBeGreaterThan(0);
}, 180_000);

afterAll(async () => {
  await proxy?.stop();
  await open?.stop();
  boxes.forEach((b) => b.cleanup());
});

describe('lazy base-image layers', () => {
  it('every step CACHED, pushed to the base\'s registry: no layer blob downloaded (base layers mounted), the image complete, the store consistent', async () => {
    const b = sandbox();
    proxy.reset();
    const out = await build(b, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/lazy:b`, ctx]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text)).toEqual([]);
    expect(steps(out.text).length).toBe(2);
    expect(b.runcRuns()).toBe(0);
    expect(await skopeoDigest(`${open.domain}/other/lazy:b`)).toBe(await skopeoDigest(`${open.domain}/app/lazy:a`));
    expect(blobGets([...baseLayers, ...cacheLayers])).toEqual([]);
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount=') && r.path.includes('from=base%2Flazy'));
    expect(mounts.length).toBe(baseLayers.length);
    await skopeoCopies(`${open.domain}/other/lazy:b`);
    await doctorOK(b);
    expect((await b.tsbuild(['images'])).stdout).toContain('base/lazy');
    // Built again: the store's image with absent (fetchable) layers is used as it is, nothing is repaired.
    proxy.reset();
    const again = await build(b, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/lazy:b2`, ctx]);
    expect(again.code, again.text).toBe(0);
    expect(again.text).not.toMatch(/missing or corrupt/);
    expect(ran(again.text)).toEqual([]);
    expect(blobGets(baseLayers)).toEqual([]);
    await doctorOK(b);
    // `tsbuild save` of the base image fetches its layers (verified): the archive is complete.
    const tar = join(b.dir, 'base.tar');
    const saved = await b.tsbuild(['save', '-o', tar, baseRef], { env });
    expect(saved.code, saved.stderr).toBe(0);
    expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
    const entries = (await execFileP('tar', ['-tf', tar])).stdout.split('\n');
    for (const l of baseLayers) expect(entries).toContain(`blobs/sha256/${l.slice(7)}`);
    await doctorOK(b);
  }, 180_000);

  it('a step misses (changed file before the RUN): the base layers are fetched then, the build succeeds, the image is complete', async () => {
    const c = sandbox();
    const changed = context(baseRef, 'changed\n');
    proxy.reset();
    const out = await build(c, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/lazy:c`, changed]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text).length).toBe(2);
    expect(c.runcRuns()).toBe(1);
    expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
    await skopeoCopies(`${open.domain}/other/lazy:c`);
    await doctorOK(c);
  }, 180_000);

  it('every step CACHED with -o type=docker: the base layers are fetched for the archive, which is complete', async () => {
    const d = sandbox();
    const tar = join(d.dir, 'x.tar');
    proxy.reset();
    const out = await build(d, ['--cache-from', cacheRef, '-o', `type=docker,dest=${tar}`, ctx]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text)).toEqual([]);
    expect(d.runcRuns()).toBe(0);
    const manifest = JSON.parse((await execFileP('tar', ['-xOf', tar, 'manifest.json'])).stdout) as { Layers: string[] }[];
    const entries = (await execFileP('tar', ['-tf', tar], { maxBuffer: 1 << 24 })).stdout.split('\n');
    expect(manifest[0]!.Layers.length).toBe(baseLayers.length + 2);
    for (const l of manifest[0]!.Layers) expect(entries).toContain(l);
    for (const l of baseLayers) {
      const sum = (await execFileP('sh', ['-c', `tar -xOf '${tar}' blobs/sha256/${l.slice(7)} | sha256sum`])).stdout.split(' ')[0];
      expect(`sha256:${sum}`).toBe(l);
    }
    await doctorOK(d);
  }, 180_000);

  it('every step CACHED, pushed to another registry: the base layers are fetched (verified) and uploaded, the image complete', async () => {
    const other = await TestRegistry.start('open');
    try {
      const f = sandbox();
      proxy.reset();
      const out = await build(f, ['--cache-from', cacheRef, '-o', `type=registry,name=${other.domain}/elsewhere/lazy:f`, ctx]);
      expect(out.code, out.text).toBe(0);
      expect(ran(out.text)).toEqual([]);
      expect(f.runcRuns()).toBe(0);
      expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
      expect(await skopeoDigest(`${other.domain}/elsewhere/lazy:f`)).toBe(await skopeoDigest(`${open.domain}/app/lazy:a`));
      await skopeoCopies(`${other.domain}/elsewhere/lazy:f`);
      await doctorOK(f);
    } finally {
      await other.stop();
    }
  }, 180_000);

  it('-t with --cache-from: the image store gets the whole image (base layers fetched, verified); `tsbuild push` mounts within the registry, uploads to another', async () => {
    const h = sandbox();
    proxy.reset();
    const out = await build(h, ['--cache-from', cacheRef, '-t', 'lazy:h', ctx]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text)).toEqual([]);
    expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
    await doctorOK(h);
    // Same registry, another repository: the base layers are mounted from where they live, none downloaded.
    proxy.reset();
    const same = `${proxy.domain}/pushed/lazy:h`;
    expect((await h.tsbuild(['tag', 'lazy:h', same])).code).toBe(0);
    const pushed = await h.tsbuild(['push', same], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(blobGets([...baseLayers, ...cacheLayers])).toEqual([]);
    expect(proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount=') && r.path.includes('from=base%2Flazy')).length).toBe(baseLayers.length);
    expect(await skopeoDigest(`${open.domain}/pushed/lazy:h`)).toBe(await skopeoDigest(`${open.domain}/app/lazy:a`));
    await skopeoCopies(`${open.domain}/pushed/lazy:h`);
    // Another registry: uploaded from the store (nothing fetched again).
    const other = await TestRegistry.start('open');
    try {
      proxy.reset();
      const far = `${other.domain}/far/lazy:h`;
      expect((await h.tsbuild(['tag', 'lazy:h', far])).code).toBe(0);
      const farPush = await h.tsbuild(['push', far], { env });
      expect(farPush.code, farPush.stderr).toBe(0);
      expect(blobGets(baseLayers)).toEqual([]);
      expect(await skopeoDigest(far)).toBe(await skopeoDigest(`${open.domain}/app/lazy:a`));
      await skopeoCopies(far);
    } finally {
      await other.stop();
    }
    await doctorOK(h);
  }, 180_000);

  it('every step CACHED with --load: the base layers are fetched for the docker-load archive, which is complete (a stand-in daemon socket)', async () => {
    const l = sandbox();
    const sock = join(l.dir, 'fake-docker.sock');
    const daemon = await standInDockerDaemon(sock);
    proxy.reset();
    try {
      const out = await l.tsbuild(['build', '--progress', 'plain', '--cache-from', cacheRef, '--load', '-t', 'lazy:load', ctx], { env: { ...env, DOCKER_HOST: `unix://${sock}` } });
      expect(out.code, out.stderr).toBe(0);
      expect(ran(out.stderr + out.stdout)).toEqual([]);
    } finally {
      daemon.close();
    }
    expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
    const tar = join(l.dir, 'loaded.tar');
    writeFileSync(tar, daemon.archive());
    // skopeo reads every layer of the archive against the config's diff IDs.
    await execFileP('skopeo', ['copy', '-q', `docker-archive:${tar}:lazy:load`, `oci:${join(l.dir, 'oci')}:x`]);
    await doctorOK(l);
  }, 180_000);

  it('a store holding a lazily resolved base serves a later build without --cache-from: the layers are fetched when the step runs on them', async () => {
    const g = sandbox();
    const first = await build(g, ['--cache-from', cacheRef, ctx]); // no output: nothing needs the layers
    expect(first.code, first.text).toBe(0);
    proxy.reset();
    const later = await build(g, ['-t', 'later:1', context(baseRef, 'later\n')]);
    expect(later.code, later.text).toBe(0);
    expect(later.text).not.toMatch(/missing or corrupt/);
    expect(g.runcRuns()).toBe(1);
    expect(new Set(blobGets(baseLayers).map((r) => r.path.replace(/^.*\/blobs\//, ''))).size).toBe(baseLayers.length);
    await doctorOK(g);
  }, 180_000);

  it('the registry is gone when a missed step needs the base layers: an error naming the image and the layer, exit 1, the store consistent', async () => {
    const gone = await TestRegistry.start('open');
    const front = await new CountingProxy(gone.port).start();
    try {
      const ref = `${front.domain}/base/gone:v1`;
      const layers = await pushBase(ref, 'lazy-gone');
      // The registry stops once the build asks for a layer blob: the manifests and config were read (resolve).
      let stopped: Promise<void> | undefined;
      front.beforeForward = (r) => (r.method === 'GET' && layers.some((l) => r.path.includes(`/blobs/${l}`)) ? (stopped ??= gone.stop()) : undefined);
      const e = sandbox();
      const out = await build(e, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/lazy:e`, context(ref, 'gone\n')]);
      expect(out.code, out.text).toBe(1);
      expect(stopped).toBeDefined();
      expect(out.stderr).toMatch(new RegExp(`base image ${ref.replace(/[.]/g, '\\.')}: layer sha256:[0-9a-f]{64} is not in the local store yet and could not be fetched`));
      expect(layers.some((l) => out.stderr.includes(l))).toBe(true);
      expect(out.stderr).not.toMatch(/\n\s+at /);
      expect(e.storeLeftovers()).toEqual([]);
      await doctorOK(e);
    } finally {
      await front.stop();
      await gone.stop().catch(() => {});
    }
  }, 180_000);

  it('the travelling memo answers a fresh machine\'s job on a registry base: the tag checked with one HEAD, no layer downloaded, the base layers mounted, the same image', async () => {
    // A's export with the memo on (the context is over a second old by now: not racy).
    const a = sandbox();
    const ref = `${proxy.domain}/cache/lazy-memo:1`;
    const exported = await build(a, ['--cache-to', `type=registry,ref=${ref},mode=max`, '-o', `type=registry,name=${proxy.domain}/app/lazy-memo:a`, ctx], { TSBUILD_NO_MEMO: '', TSBUILD_MEMO_DEBUG: '1' });
    expect(exported.code, exported.text).toBe(0);
    expect(exported.text).toContain('travelling memo: kept');
    const b = sandbox();
    proxy.reset();
    const out = await build(b, ['--cache-from', ref, '-o', `type=registry,name=${proxy.domain}/other/lazy-memo:b`, ctx], { TSBUILD_NO_MEMO: '', TSBUILD_MEMO_DEBUG: '1' });
    expect(out.code, out.text).toBe(0);
    expect(out.text).toContain('travelling memo: replayed');
    expect(b.runcRuns()).toBe(0);
    expect(await skopeoDigest(`${open.domain}/other/lazy-memo:b`)).toBe(await skopeoDigest(`${open.domain}/app/lazy-memo:a`));
    expect(blobGets([...baseLayers, ...cacheLayers])).toEqual([]);
    expect(proxy.requests.filter((r) => r.method === 'HEAD' && r.path.startsWith('/v2/base/lazy/manifests/')).length).toBe(1);
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount='));
    expect(mounts.filter((r) => baseLayers.some((d) => r.path.includes(encodeURIComponent(d)))).length).toBe(baseLayers.length);
    await skopeoCopies(`${open.domain}/other/lazy-memo:b`);
  }, 180_000);
});
