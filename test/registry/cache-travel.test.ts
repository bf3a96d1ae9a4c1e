/**
 * The cache that travels through a real registry (Debian docker-registry 2.8, behind the counting proxy):
 * "two machines" (store A exports mode=max, empty store B with the context at another path imports: every step
 * CACHED, the identical image digest, and no layer blob downloaded when the output is a push to the same
 * registry: the blobs are mounted across repositories); the format as skopeo sees it; an output that needs
 * the bytes downloads them (verified); untrusted sources (404, 401, 5xx, a corrupt manifest, a corrupt layer)
 * give a warning and a normal build; a registry failing mid-export (503s, or the process killed while a
 * blob uploads) fails the build after the image is written (or warns with ignore-error=true), the store
 * stays consistent and a later export is whole; Basic auth over TLS with the push credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, freshMachines, suiteSandbox } from '../e2e/harness.js';
import { parseSteps } from '../e2e/cache-steps.js';
import { CountingProxy, PASSWORD, TestRegistry, USER } from './harness.js';

const execFileP = promisify(execFile);
const a = suiteSandbox();
const stores = freshMachines(a);
const machine = () => stores.machine();
const checkout = (sb: Sandbox) => stores.checkout(sb, 'e2e/cache-travel', 'project');
let open: TestRegistry;
let basic: TestRegistry;
let proxy: CountingProxy;
let env: Record<string, string>;

beforeAll(async () => {
  [open, basic] = await Promise.all([TestRegistry.start('open'), TestRegistry.start('basic')]);
  proxy = await new CountingProxy(open.port).start();
  const dockerDir = join(a.dir, 'docker');
  mkdirSync(dockerDir, { recursive: true });
  writeFileSync(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [basic.domain]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
  env = { DOCKER_CONFIG: dockerDir, TSBUILD_CERTS_DIR: basic.certsDir, TSBUILD_REGISTRY_RETRIES: '1' };
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([open?.stop(), basic?.stop()]);
});

async function build(sb: Sandbox, args: string[], extra: Record<string, string> = {}) {
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...args], { env: { ...env, ...extra } });
  return { ...out, text: out.stderr + out.stdout };
}

const steps = (out: string) => [...parseSteps(out)].filter(([name]) => !/^(exporting|importing|pulling|pushing|FROM )/.test(name));
const ran = (out: string) => steps(out).filter(([, s]) => !s.cached).map(([name]) => name);

async function skopeoRaw(ref: string, extra: string[] = []): Promise<Record<string, any>> {
  return JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`])).stdout);
}
async function skopeoDigest(ref: string): Promise<string> {
  return JSON.parse((await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout).Digest;
}

describe('cache export/import through a registry', () => {
  let cacheRef = '';
  let layers: string[] = [];

  beforeAll(async () => {
    cacheRef = `${proxy.domain}/cache/app:buildcache`;
    const out = await build(a, ['--cache-to', `type=registry,ref=${cacheRef},mode=max`, '-o', `type=registry,name=${proxy.domain}/app/img:a`, checkout(a)]);
    expect(out.code, out.text).toBe(0);
    expect(out.text).toMatch(/exported 9 cache records to/);
    const m = await skopeoRaw(cacheRef);
    layers = m.layers.map((l: { digest: string }) => l.digest);
  }, 180_000);

  it('is stored as an OCI manifest with an artifact type and the cache config, readable by skopeo', async () => {
    const m = await skopeoRaw(cacheRef);
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe('application/vnd.tsbuild.cache.v1');
    expect(m.config.mediaType).toBe('application/vnd.tsbuild.cache.config.v1+json');
    expect(layers.length).toBeGreaterThan(0);
    const cfg = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${cacheRef}`])).stdout);
    expect(cfg.version).toBe(1);
  });

  it('two machines: B (empty store, another path) hits every step, pushes the identical image, and downloads no layer (mounted instead)', async () => {
    const b = await machine();
    proxy.reset();
    const out = await build(b, ['--explain', '--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/img:b`, checkout(b)]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text)).toEqual([]);
    expect(steps(out.text).length).toBe(9);
    expect(b.runcRuns()).toBe(0);
    expect(out.text).toContain(`from cache source ${cacheRef}`);
    expect(await skopeoDigest(`${open.domain}/other/img:b`)).toBe(await skopeoDigest(`${open.domain}/app/img:a`));
    const layerGets = proxy.requests.filter((r) => r.method === 'GET' && layers.some((d) => r.path.includes(`/blobs/${d}`)));
    expect(layerGets).toEqual([]);
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount=') && r.path.includes('from=cache%2Fapp'));
    expect(mounts.length).toBeGreaterThan(0);
  }, 120_000);

  it('an output that needs the bytes (the local store) downloads the layers it uses, verified; the image is the same', async () => {
    const b = await machine();
    proxy.reset();
    const out = await build(b, ['-t', 'app:b', '--cache-from', cacheRef, checkout(b)]);
    expect(out.code, out.text).toBe(0);
    expect(ran(out.text)).toEqual([]);
    expect(proxy.requests.some((r) => r.method === 'GET' && layers.some((d) => r.path.includes(`/blobs/${d}`)))).toBe(true);
    const pushed = await build(b, ['-o', `type=registry,name=${proxy.domain}/again/img:b`, checkout(b)]);
    expect(pushed.code, pushed.text).toBe(0);
    expect(await skopeoDigest(`${open.domain}/again/img:b`)).toBe(await skopeoDigest(`${open.domain}/app/img:a`));
    expect((await b.tsbuild(['doctor'])).stdout).toMatch(/store OK/);
  }, 120_000);

  it('untrusted sources: 404, 401, 5xx, a corrupt manifest: a warning and a normal build; a corrupt layer: its step runs', async () => {
    const b = await machine();
    const noCreds = join(b.dir, 'no-docker-config');
    mkdirSync(noCreds, { recursive: true });
    const cases: [string, string, () => void, RegExp][] = [
      ['404', `${proxy.domain}/cache/none:nope`, () => {}, /not found/],
      ['401', `${basic.domain}/cache/app:buildcache`, () => {}, /401|unauthorized|authentication|credentials/i],
      ['5xx', cacheRef, () => void (proxy.failures = { path: /\/manifests\//, statuses: [500, 500, 500, 500, 500, 500] }), /500|building without this cache source/],
      ['corrupt manifest', cacheRef, () => void (proxy.corrupt = /\/manifests\//), /digest|building without this cache source/],
      // An endless manifest body: read up to the 4 MiB cap, then refused (before the cap, the build hung).
      ['oversized manifest', cacheRef, () => void (proxy.endless = /\/manifests\//), /manifest is larger than 4 MiB/],
    ];
    for (const [what, ref, arrange, warning] of cases) {
      arrange();
      const out = await build(b, ['--cache-from', ref, '-t', `x:${what.replace(/ /g, '-')}`, checkout(b)], what === '401' ? { DOCKER_CONFIG: noCreds } : {});
      proxy.failures = undefined;
      proxy.corrupt = undefined;
      proxy.endless = undefined;
      expect(out.code, `${what}: ${out.text}`).toBe(0);
      expect(out.text, what).toMatch(/WARNING: --cache-from .*building without this cache source/);
      expect(out.text, what).toMatch(warning);
    }
    const c = await machine();
    proxy.corrupt = new RegExp(`/blobs/(${layers.join('|')})`);
    const out = await build(c, ['--cache-from', cacheRef, '-t', 'x:corrupt-layer', checkout(c)]);
    proxy.corrupt = undefined;
    expect(out.code, out.text).toBe(0);
    expect(out.text).toMatch(/running the step instead/);
    expect((await c.tsbuild(['doctor'])).stdout).toMatch(/store OK/);
    // Endless layer blobs: each download stops past its descriptor's size; the steps run instead.
    const d = await machine();
    proxy.endless = new RegExp(`/blobs/(${layers.join('|')})`);
    const endless = await build(d, ['--cache-from', cacheRef, '-t', 'x:endless-layer', checkout(d)]);
    proxy.endless = undefined;
    expect(endless.code, endless.text).toBe(0);
    expect(endless.text).toMatch(/more than .*bytes[^\n]*running the step instead/);
    expect((await d.tsbuild(['doctor'])).stdout).toMatch(/store OK/);
  }, 400_000);

  it('a registry failing mid-export fails the build after the image is written; ignore-error=true warns', async () => {
    const ctx = checkout(a);
    writeFileSync(join(ctx, 'app.txt'), 'mid-export failure\n');
    proxy.failures = { path: /\/blobs\/uploads\//, statuses: Array(40).fill(503) };
    const out = await build(a, ['-t', 'app:mid', '--cache-to', `type=registry,ref=${proxy.domain}/cache/fail:1,mode=max`, ctx]);
    expect(out.code).not.toBe(0);
    expect(out.text).toMatch(/cache export to .*cache\/fail:1 failed: .*\(the image was written\)/);
    expect((await a.tsbuild(['images'])).stdout).toMatch(/app\s+mid/);
    proxy.failures = { path: /\/blobs\/uploads\//, statuses: Array(40).fill(503) };
    const ok = await build(a, ['--cache-to', `type=registry,ref=${proxy.domain}/cache/fail:1,mode=max,ignore-error=true`, ctx]);
    proxy.failures = undefined;
    expect(ok.code, ok.text).toBe(0);
    expect(ok.text).toMatch(/WARNING: cache export to .* failed: .*ignore-error=true/);
  }, 120_000);

  it('a registry killed (SIGKILL) mid-export: the build fails after the image is written (ignore-error=true: a warning), the store stays consistent, a later export to the restarted registry is whole', async () => {
    const dying = await TestRegistry.start('open');
    const front = await new CountingProxy(dying.port).start();
    try {
      const m = await machine();
      const ctx = checkout(m);
      writeFileSync(join(ctx, 'app.txt'), 'registry killed mid-export\n');
      const ref = `${front.domain}/cache/killed:1`;
      // The registry dies when the first blob's bytes are on their way (the upload session already started).
      let kills = 0;
      const killOnUpload = () => {
        front.beforeForward = async (r) => {
          if ((r.method === 'PUT' || r.method === 'PATCH') && r.path.startsWith('/v2/cache/killed/blobs/uploads/')) {
            front.beforeForward = undefined;
            kills++;
            await dying.kill();
          }
        };
      };
      killOnUpload();
      const out = await build(m, ['-t', 'app:killed', '--cache-to', `type=registry,ref=${ref},mode=max`, ctx]);
      expect(kills, out.text).toBe(1);
      expect(out.code, out.text).not.toBe(0);
      expect(out.text).toMatch(/cache export to .*cache\/killed:1 failed: .*\(the image was written\)/);
      expect((await m.tsbuild(['images'])).stdout).toMatch(/app\s+killed/);
      expect((await m.tsbuild(['doctor'])).stdout).toMatch(/store OK/);

      await dying.launch();
      killOnUpload();
      const ignored = await build(m, ['--cache-to', `type=registry,ref=${ref},mode=max,ignore-error=true`, ctx]);
      expect(kills, ignored.text).toBe(2);
      expect(ignored.code, ignored.text).toBe(0);
      expect(ignored.text).toMatch(/WARNING: cache export to .*cache\/killed:1 failed: .*ignore-error=true/);
      expect((await m.tsbuild(['doctor'])).stdout).toMatch(/store OK/);

      // Restarted (same storage, half-finished uploads in it): the next export is whole; a fresh store hits every step.
      await dying.launch();
      const again = await build(m, ['--cache-to', `type=registry,ref=${ref},mode=max`, ctx]);
      expect(again.code, again.text).toBe(0);
      expect(again.text).toMatch(/exported 9 cache records to/);
      const b = await machine();
      const ctxB = checkout(b);
      writeFileSync(join(ctxB, 'app.txt'), 'registry killed mid-export\n');
      const got = await build(b, ['--cache-from', ref, '-t', 'app:after-kill', ctxB]);
      expect(got.code, got.text).toBe(0);
      expect(got.text).not.toMatch(/WARNING/);
      expect(steps(got.text).length).toBe(9);
      expect(ran(got.text)).toEqual([]);
      expect(b.runcRuns()).toBe(0);
      expect((await b.tsbuild(['doctor'])).stdout).toMatch(/store OK/);
    } finally {
      front.beforeForward = undefined;
      await front.stop();
      await dying.stop();
    }
  }, 300_000);

  it('a base image from the registry: a build with --cache-from downloads it without unpacking it (every step hits, nothing reads its files); without --cache-from it unpacks while downloading', async () => {
    const baseRef = `${proxy.domain}/base/busybox:1`;
    expect((await a.tsbuild(['tag', 'busybox:latest', baseRef])).code).toBe(0);
    const pushed = await a.tsbuild(['push', '--progress', 'plain', baseRef], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    const ctx = join(a.dir, 'registry-base');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${baseRef}\nRUN echo hi > /hi.txt\n`);
    const ref = `${proxy.domain}/cache/registry-base:1`;
    const first = stores.empty();
    const exported = await build(first, ['--cache-to', `type=registry,ref=${ref}`, '-t', 'x:1', ctx]);
    expect(exported.code, exported.text).toBe(0);
    expect(exported.text).toContain('extracting');
    const fresh = stores.empty();
    const got = await build(fresh, ['--cache-from', ref, '-t', 'x:1', ctx]);
    expect(got.code, got.text).toBe(0);
    expect(ran(got.text)).toEqual([]);
    expect(fresh.runcRuns()).toBe(0);
    expect(got.text).toContain('pulling');
    expect(got.text).not.toContain('extracting');
  }, 180_000);

  it('inline: A pushes an image carrying its chain\'s cache; B (empty store) builds with --cache-from that image: those steps CACHED, the same digest', async () => {
    const ref = `${proxy.domain}/inline/app:1`;
    const out = await build(a, ['--cache-to', 'type=inline', '-o', `type=registry,name=${ref}`, checkout(a)]);
    expect(out.code, out.text).toBe(0);
    expect(out.text).toMatch(/exported 3 cache records inline/);
    const m = await skopeoRaw(ref);
    expect(m.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    const cfg = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${ref}`])).stdout);
    expect(cfg['tsbuild.cache.v1'].version).toBe(1);
    expect(cfg['tsbuild.cache.v1'].records.map((r: { layer: number }) => cfg.rootfs.diff_ids[r.layer])).toEqual(cfg['tsbuild.cache.v1'].records.map((r: { diffID: string }) => r.diffID));
    const b = await machine();
    proxy.reset();
    const got = await build(b, ['--explain', '--cache-from', ref, '--cache-to', 'type=inline', '-o', `type=registry,name=${proxy.domain}/inline/b:1`, checkout(b)]);
    expect(got.code, got.text).toBe(0);
    const finalStage = steps(got.text).filter(([name]) => /COPY --from|all\.txt/.test(name));
    expect(finalStage.length).toBe(3);
    expect(finalStage.every(([, s]) => s.cached), got.text).toBe(true);
    expect(got.text).toContain(`from cache source ${ref}`);
    expect(b.runcRuns()).toBe(0);
    expect(await skopeoDigest(`${open.domain}/inline/b:1`)).toBe(await skopeoDigest(`${open.domain}/inline/app:1`));
    // An image pushed without an inline cache is not a cache source: a warning, a normal build.
    const c = await machine();
    const plain = await build(c, ['--cache-from', `${proxy.domain}/app/img:a`, '-t', 'x:plain', checkout(c)]);
    expect(plain.code, plain.text).toBe(0);
    expect(plain.text).toMatch(/WARNING: --cache-from .*app\/img:a: .*image without an inline tsbuild cache .*building without this cache source/);
  }, 180_000);

  it('two jobs exporting to the same ref at once leave a valid cache: the last writer\'s, whole', async () => {
    const ref = `${proxy.domain}/cache/race:1`;
    const jobs = await Promise.all(['one', 'two'].map(async (v) => {
      const m = await machine();
      const ctx = checkout(m);
      writeFileSync(join(ctx, 'app.txt'), `race ${v}\n`);
      return { m, ctx, v };
    }));
    const outs = await Promise.all(jobs.map(({ m, ctx }) => build(m, ['--cache-to', `type=registry,ref=${ref},mode=max`, ctx])));
    for (const o of outs) expect(o.code, o.text).toBe(0);
    const c = await machine();
    const hits = [];
    for (const { v } of jobs) {
      const ctx = checkout(c);
      writeFileSync(join(ctx, 'app.txt'), `race ${v}\n`);
      const out = await build(c, ['--cache-from', ref, '-t', `race:${v}`, ctx], { TSBUILD_NO_MEMO: '1' });
      expect(out.code, out.text).toBe(0);
      expect(out.text).not.toMatch(/WARNING/);
      hits.push(ran(out.text).length === 0);
    }
    // Exactly one job's cache is there, and all of it (the other job's steps that depend on app.txt miss).
    expect(hits.filter(Boolean).length).toBe(1);
  }, 300_000);

  it('Basic auth over TLS with the credentials pushes use', async () => {
    const ref = `${basic.domain}/team/cache:1`;
    const out = await build(a, ['--cache-to', `type=registry,ref=${ref},mode=max`, checkout(a)]);
    expect(out.code, out.text).toBe(0);
    const b = await machine();
    const got = await build(b, ['--cache-from', ref, checkout(b)]);
    expect(got.code, got.text).toBe(0);
    expect(ran(got.text)).toEqual([]);
    expect(got.text).not.toContain(PASSWORD);
  }, 120_000);
});
