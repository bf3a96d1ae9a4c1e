/**
 * Base layers unpacked while they download (solver/ops/image/unpack.ts unpackWhilePulling, the pull's tee in
 * src/registry/blob-pull.ts), against a real docker-registry with a corrupting / cutting proxy in front:
 * the tree equals the one the stored-blob path makes; a chain snapshot is committed only for bytes that
 * verified (blob digest and diffID); a resumed download keeps unpacking; a failure leaves no active snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../../src/content/store.js';
import { DigestMismatchError, TsbuildError } from '../../../../src/errors.js';
import { RegistryClient } from '../../../../src/registry/index.js';
import { OverlaySnapshotter } from '../../../../src/snapshot/overlay.js';
import { chainIDs, type ResolvedImage } from '../../../../solver/ops/image/resolve.js';
import { chainSnapshotName, unpackImage, unpackWhilePulling } from '../../../../solver/ops/image/unpack.js';
import { CountingProxy, TestRegistry } from '../../../registry/harness.js';
import { busyboxImage, writeImage, writeLayer, type LayerOut } from '../../../registry/images.js';

let reg: TestRegistry;
let proxy: CountingProxy;
let dir: string;
let src: LocalContentStore;
const platform = { os: 'linux', architecture: 'amd64' };

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CountingProxy(reg.port).start();
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-unpack-pull-'));
  src = new LocalContentStore(join(dir, 'src'));
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const client = () => new RegistryClient({ credentials: async () => undefined, retries: 2, backoffMs: 50 });

function store(name: string) {
  const content = new LocalContentStore(join(dir, name, 'content'));
  const snapshotter = new OverlaySnapshotter(join(dir, name, 'snapshots'));
  return { content, snapshotter };
}

/** Pull `ref` into a fresh store (with the unpacking tee or without), then unpack the image as a build does. */
async function pull(name: string, ref: string, tee: boolean) {
  const s = store(name);
  const got = client().pull(ref, { content: s.content, platform, ...(tee ? { tee: unpackWhilePulling(s) } : {}) });
  return { ...s, got };
}

function resolved(got: Awaited<ReturnType<RegistryClient['pull']>>): ResolvedImage {
  const diffIDs = got.config.rootfs.diff_ids;
  return { manifestDigest: got.manifestDigest, manifest: got.manifest, config: got.config, layers: got.manifest.layers.map((descriptor, i) => ({ descriptor, diffID: diffIDs[i]! })), chainIDs: chainIDs(diffIDs) };
}

/** Every entry under `root`: type, mode, owner, size, content digest or link target. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const p = join(root, rel, n);
      const st = lstatSync(p);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : '';
      out.push(`${rel}${n} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isFile() ? st.size : ''} ${what}`);
      if (st.isDirectory()) walk(`${rel}${n}/`);
    }
  };
  walk('');
  return out;
}

async function snapshots(s: { snapshotter: OverlaySnapshotter }) {
  const all: { key: string; kind: string }[] = [];
  await s.snapshotter.walk((i) => void all.push({ key: i.key, kind: i.kind }));
  return all;
}

/** An image whose first layer is one uncompressed file of `bytes` random bytes (a flipped byte stays a valid tar). */
async function bigFirstLayer(bytes: number, opts: { lieAboutDiffID?: boolean; compression?: 'gzip' | 'none' } = {}) {
  const first = await writeLayer(src, [{ name: 'data/', type: 'directory' }, { name: 'data/big.bin', data: randomBytes(bytes) }], 1, opts.compression ?? 'none');
  const second = await writeLayer(src, [{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', data: Buffer.from(randomBytes(8).toString('hex')) }]);
  const layers: LayerOut[] = [opts.lieAboutDiffID ? { ...first, diffID: 'sha256:' + createHash('sha256').update('not this layer').digest('hex') } : first, second];
  const img = await writeImage(src, layers);
  return { manifest: img.manifest, layers };
}

describe('unpacking base layers while they download', () => {
  it('commits the first layer during the pull; every layer dir equals what the stored-blob path makes', async () => {
    const img = await busyboxImage(src, { extra: 2, unique: 'tee' });
    await client().push([`${reg.domain}/tee:v1`], img.manifest, { content: src });
    const a = await pull('a', `${reg.domain}/tee:v1`, true);
    const got = await a.got;
    const chain = chainIDs(got.config.rootfs.diff_ids).map(chainSnapshotName);
    // after the pull alone: layer 0 unpacked and committed (its parent needs nothing), nothing left active
    expect(await snapshots(a)).toEqual([{ key: chain[0], kind: 'committed' }]);
    const b = await pull('b', `${reg.domain}/tee:v1`, false);
    const gotB = await b.got;
    expect(await snapshots(b)).toEqual([]);
    const signal = new AbortController().signal;
    expect(await unpackImage(resolved(got), { ...a, signal })).toBe(chain[2]);
    expect(await unpackImage(resolved(gotB), { ...b, signal })).toBe(chain[2]);
    for (const name of chain) {
      const t = tree(await a.snapshotter.layerDir(name!));
      expect(t.length).toBeGreaterThan(0);
      expect(t).toEqual(tree(await b.snapshotter.layerDir(name!)));
    }
    expect(tree(await a.snapshotter.layerDir(chain[0]!)).join('\n')).toContain('bin/busybox');
    expect((await snapshots(a)).filter((s) => s.kind !== 'committed')).toEqual([]);
  });

  it('a byte changed in transit: the pull fails, no chain snapshot is committed, nothing is left active or stored', async () => {
    const img = await bigFirstLayer(1 << 20);
    await client().push([`${reg.domain}/bad:v1`], img.manifest, { content: src });
    const bad = img.layers[0]!.desc.digest;
    proxy.corrupt = new RegExp(`/blobs/${bad}$`);
    try {
      const s = await pull('bad', `${proxy.domain}/bad:v1`, true);
      const err = await s.got.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(await snapshots(s)).toEqual([]);
      expect(readdirSync(join(dir, 'bad', 'snapshots')).filter((n) => /^[0-9a-f]{8}$/.test(n))).toEqual([]);
      expect(await s.content.has(bad)).toBe(false);
    } finally {
      proxy.corrupt = undefined;
    }
  });

  it('a download cut in the middle resumes with Range and keeps unpacking: the committed layer is whole', async () => {
    const img = await bigFirstLayer(3 << 20, { compression: 'gzip' });
    await client().push([`${reg.domain}/cut:v1`], img.manifest, { content: src });
    const first = img.layers[0]!.desc;
    proxy.reset();
    proxy.truncateOnce = new RegExp(`/blobs/${first.digest}$`);
    const s = await pull('cut', `${proxy.domain}/cut:v1`, true);
    const got = await s.got;
    const gets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(first.digest));
    expect(gets.length).toBe(2);
    expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    const name = chainSnapshotName(img.layers[0]!.diffID);
    expect(await snapshots(s)).toEqual([{ key: name, kind: 'committed' }]);
    const ref = store('cut-ref');
    await ref.content.put(await src.read(first.digest));
    await ref.content.put(await src.read(img.layers[1]!.desc.digest));
    await unpackImage(resolved(got), { ...ref, signal: new AbortController().signal });
    expect(tree(await s.snapshotter.layerDir(name))).toEqual(tree(await ref.snapshotter.layerDir(name)));
  });

  it('a config naming another diffID: the verified blob is stored, no snapshot is committed, the build path reports the mismatch', async () => {
    const img = await bigFirstLayer(64 << 10, { lieAboutDiffID: true });
    await client().push([`${reg.domain}/lie:v1`], img.manifest, { content: src });
    const s = await pull('lie', `${reg.domain}/lie:v1`, true);
    const got = await s.got;
    expect(await s.content.has(img.layers[0]!.desc.digest)).toBe(true);
    expect(await snapshots(s)).toEqual([]);
    const err = await unpackImage(resolved(got), { ...s, signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).code).toBe('BLOB_CORRUPT');
    expect(await snapshots(s)).toEqual([]);
  });

  it('no tee for a layer whose parent is not unpacked; an aborted tee leaves no active snapshot', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'abort' });
    await client().push([`${reg.domain}/abort:v1`], img.manifest, { content: src });
    const s = store('abort');
    const got = await client().pull(`${reg.domain}/abort:v1`, { content: s.content, platform, layers: false });
    const tee = unpackWhilePulling(s);
    expect(await tee(got, 1)).toBeUndefined();
    const t0 = await tee(got, 0);
    expect(t0).toBeDefined();
    expect((await snapshots(s)).map((x) => x.kind)).toEqual(['active']);
    await t0!.write(Buffer.from([0x1f, 0x8b, 8, 0]));
    await t0!.abort();
    expect(await snapshots(s)).toEqual([]);
  });
});
