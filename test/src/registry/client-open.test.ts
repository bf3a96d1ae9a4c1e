/**
 * RegistryClient against a real docker-registry over plain HTTP, with a counting/corrupting proxy in front:
 * push (HEAD-skip, mount, monolithic and chunked), pull (verification, Range resume, platform choice),
 * a registry killed mid-push.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { DigestMismatchError } from '../../../src/errors.js';
import { RegistryClient, BlobSources } from '../../../src/registry/index.js';
import type { ProgressEvent } from '../../../src/progress/types.js';
import { CountingProxy, TestRegistry } from '../../registry/harness.js';
import { busyboxImage, writeIndex } from '../../registry/images.js';

let reg: TestRegistry;
let proxy: CountingProxy;
let dir: string;
let src: LocalContentStore;

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CountingProxy(reg.port).start();
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-regclient-'));
  src = new LocalContentStore(join(dir, 'src'));
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(extra: { sources?: BlobSources } = {}) {
  return new RegistryClient({ credentials: async () => undefined, retries: 2, backoffMs: 50, ...extra });
}

function skopeoInspect(ref: string): { Digest: string; Layers: string[]; Architecture: string } {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]).toString());
}

describe('push and pull against docker-registry (open, HTTP)', () => {
  it('pushes a multi-layer image under two tags; skopeo sees both; a second push uploads no blob', async () => {
    const img = await busyboxImage(src, { extra: 2, unique: 'two-tags' });
    proxy.reset();
    const stats = await client().push([`${proxy.domain}/app:v1`, `${proxy.domain}/app:latest`], img.manifest, { content: src });
    expect(stats.uploaded).toBe(4); // 3 layers + config
    expect(proxy.blobUploads().length).toBe(4);
    for (const tag of ['v1', 'latest']) {
      const info = skopeoInspect(`${reg.domain}/app:${tag}`);
      expect(info.Digest).toBe(img.manifest.digest);
      expect(info.Layers).toEqual(img.layers.map((l) => l.desc.digest));
    }
    proxy.reset();
    const again = await client().push([`${proxy.domain}/app:v1`], img.manifest, { content: src });
    expect(again).toEqual({ uploaded: 0, skipped: 4, mounted: 0 });
    expect(proxy.blobUploads()).toEqual([]);
    expect(proxy.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it('push into a second repository mounts the blobs instead of uploading them', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'mount' });
    const sources = new BlobSources(join(dir, 'sources'));
    await client({ sources }).push([`${proxy.domain}/first:v1`], img.manifest, { content: src });
    proxy.reset();
    const stats = await client({ sources }).push([`${proxy.domain}/second:v1`], img.manifest, { content: src });
    expect(stats).toEqual({ uploaded: 0, skipped: 0, mounted: 3 });
    expect(proxy.blobUploads()).toEqual([]);
    const mounts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount=') && r.path.includes('from=first'));
    expect(mounts.length).toBe(3);
    expect(skopeoInspect(`${reg.domain}/second:v1`).Digest).toBe(img.manifest.digest);
  });

  it('uploads a large blob in chunks (PATCH with Content-Range) and the registry accepts it', async () => {
    const img = await busyboxImage(src, { extra: 0, unique: 'chunked', bigLayerBytes: 3 << 20 });
    proxy.reset();
    await client().push([`${proxy.domain}/chunked:v1`], img.manifest, { content: src, monolithicMax: 1 << 20, chunkSize: 1 << 20 });
    const patches = proxy.requests.filter((r) => r.method === 'PATCH');
    expect(patches.length).toBeGreaterThanOrEqual(3 + 3); // the big layer in ≥3 chunks, busybox (~1.2 MB gz) in ≥2
    const info = skopeoInspect(`${reg.domain}/chunked:v1`);
    expect(info.Layers).toEqual(img.layers.map((l) => l.desc.digest));
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.domain}/chunked:v1`, `oci:${join(dir, 'chunked-layout')}:x`], { stdio: 'pipe' });
  });

  it('reports the bytes of every pulled and pushed blob as progress, up to its size', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'bytes', bigLayerBytes: 2 << 20 });
    const events: ProgressEvent[] = [];
    const progress = { emit: (e: ProgressEvent) => events.push(e) };
    const c = new RegistryClient({ credentials: async () => undefined, retries: 2, backoffMs: 50, progress });
    await c.push([`${reg.domain}/bytes:v1`], img.manifest, { content: src, monolithicMax: 1 << 20, chunkSize: 1 << 20 });
    await c.pull(`${reg.domain}/bytes:v1`, { content: new LocalContentStore(join(dir, 'dst-bytes')), platform: { os: 'linux', architecture: 'amd64' } });
    for (const kind of ['push', 'pull']) {
      for (const l of img.layers) {
        const p = events.filter((e): e is Extract<ProgressEvent, { type: 'vertex.progress' }> => e.type === 'vertex.progress' && e.id === `${kind}:${l.desc.digest}`);
        expect(p.length, `${kind} ${l.desc.digest}`).toBeGreaterThan(0);
        expect(p.at(-1)).toMatchObject({ current: l.desc.size, total: l.desc.size });
        expect(p.map((e) => e.current)).toEqual([...p.map((e) => e.current)].sort((a, b) => a - b)); // never goes back
      }
    }
  });

  it('pulls into an empty store, verifying every blob; the store then holds exactly those blobs', async () => {
    const img = await busyboxImage(src, { extra: 2, unique: 'pull' });
    await client().push([`${reg.domain}/pullme:v1`], img.manifest, { content: src });
    const dst = new LocalContentStore(join(dir, 'dst-pull'));
    const got = await client().pull(`${reg.domain}/pullme:v1`, { content: dst, platform: { os: 'linux', architecture: 'amd64' } });
    expect(got.target.digest).toBe(img.manifest.digest);
    expect(got.manifest.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.desc.digest));
    for (const l of img.layers) expect(await dst.has(l.desc.digest)).toBe(true);
    const r = await client().resolve(`${reg.domain}/pullme:v1`);
    expect(r?.digest).toBe(img.manifest.digest);
    expect(await client().resolve(`${reg.domain}/pullme:nope`)).toBeUndefined();
  });

  it('a blob served with the wrong digest fails with DigestMismatch and nothing enters the store', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'corrupt' });
    await client().push([`${reg.domain}/corrupt:v1`], img.manifest, { content: src });
    const bad = img.layers[1]!.desc.digest;
    proxy.corrupt = new RegExp(`/blobs/${bad}$`);
    const dst = new LocalContentStore(join(dir, 'dst-corrupt'));
    try {
      const err = await client()
        .pull(`${proxy.domain}/corrupt:v1`, { content: dst, platform: { os: 'linux', architecture: 'amd64' } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect((err as Error).message).toContain(bad);
      expect(await dst.has(bad)).toBe(false);
      const ingest = join(dst.root, 'ingest');
      expect(readdirSync(ingest)).toEqual([]);
    } finally {
      proxy.corrupt = undefined;
    }
  });

  it('resumes a blob download cut in the middle with a Range request', async () => {
    const img = await busyboxImage(src, { extra: 0, unique: 'range', bigLayerBytes: 2 << 20 });
    await client().push([`${reg.domain}/range:v1`], img.manifest, { content: src });
    const big = img.layers[img.layers.length - 1]!.desc;
    proxy.reset();
    proxy.truncateOnce = new RegExp(`/blobs/${big.digest}$`);
    const dst = new LocalContentStore(join(dir, 'dst-range'));
    await client().pull(`${proxy.domain}/range:v1`, { content: dst, platform: { os: 'linux', architecture: 'amd64' } });
    expect(await dst.has(big.digest)).toBe(true);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(big.digest));
    expect(gets.length).toBe(2);
    expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('retries 5xx and 429 (with Retry-After) with backoff, then succeeds', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'retry' });
    await client().push([`${reg.domain}/retry:v1`], img.manifest, { content: src });
    const layer = img.layers[1]!.desc.digest;
    proxy.reset();
    proxy.failures = { path: new RegExp(`/blobs/${layer}$|/manifests/v1$`), statuses: [503, 429] };
    const dst = new LocalContentStore(join(dir, 'dst-retry'));
    await client().pull(`${proxy.domain}/retry:v1`, { content: dst, platform: { os: 'linux', architecture: 'amd64' } });
    expect(await dst.has(layer)).toBe(true);
    expect(proxy.failures.statuses).toEqual([]);
    proxy.failures = { path: /\/manifests\/v1$/, statuses: [503, 503, 503, 503] };
    const err = await client().resolve(`${proxy.domain}/retry:v1`).catch((e: unknown) => e);
    expect((err as Error).message).toContain('HTTP 503'); // retries: 2 → three attempts, all 503
    expect(proxy.failures.statuses.length).toBe(1);
    proxy.failures = undefined;
  });

  it('chooses the platform entry of a manifest list (two platforms)', async () => {
    const amd = await busyboxImage(src, { extra: 1, unique: 'amd64', platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await busyboxImage(src, { extra: 1, unique: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const index = await writeIndex(src, [
      { manifest: amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
      { manifest: arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ]);
    await client().push([`${reg.domain}/multi:v1`], index, { content: src });
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.domain}/multi:v1`]).toString());
    expect(raw.manifests.length).toBe(2);
    for (const [pf, want] of [
      [{ os: 'linux', architecture: 'arm64' }, arm],
      [{ os: 'linux', architecture: 'amd64' }, amd],
    ] as const) {
      const dst = new LocalContentStore(join(dir, `dst-${pf.architecture}`));
      const got = await client().pull(`${reg.domain}/multi:v1`, { content: dst, platform: pf });
      expect(got.target.digest).toBe(index.digest);
      expect(got.manifestDigest).toBe(want.manifest.digest);
      expect(got.config.architecture).toBe(pf.architecture);
      const other = want === arm ? amd : arm;
      expect(await dst.has(other.layers[1]!.desc.digest)).toBe(false);
    }
    const none = await client()
      .pull(`${reg.domain}/multi:v1`, { content: new LocalContentStore(join(dir, 'dst-s390x')), platform: { os: 'linux', architecture: 's390x' } })
      .catch((e: unknown) => e);
    expect((none as Error).message).toMatch(/no manifest for linux\/s390x.*linux\/amd64, linux\/arm64\/v8/);
  });

  it('the registry killed mid-push, restarted: the next push completes', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'killed', bigLayerBytes: 24 << 20 });
    const ref = `${reg.domain}/killed:v1`;
    const push = client().push([ref], img.manifest, { content: src, monolithicMax: 1 << 20, chunkSize: 1 << 20, concurrency: 1 });
    // Kill once the upload is under way (the registry has started writing upload data).
    const deadline = Date.now() + 10_000;
    while (!/PATCH/.test(reg.log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await reg.kill();
    const err = await push.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(reg.domain);
    await reg.launch();
    const stats = await client().push([ref], img.manifest, { content: src });
    expect(stats.uploaded + stats.skipped).toBe(4);
    expect(skopeoInspect(ref).Digest).toBe(img.manifest.digest);
  }, 60_000);
});
