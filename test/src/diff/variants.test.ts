/**
 * Layer variants: recompression (checked by the zstd and gzip CLIs, independent of our code), the memo
 * (a second export reuses the blob), and rewrite-timestamp (checked with GNU tar's listing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { forExport, manifestForExport, mediaTypeFor, prepareLayer, prepareLayers } from '../../../src/diff/variants.js';
import { createLayer } from '../../../src/diff/compare.js';
import { compressionOf } from '../../../src/diff/compress.js';
import { MediaType } from '../../../src/image/types.js';
import { sha256 } from '../../../src/llb/digest.js';
import { makeFixture, tarOf, type Fixture } from '../../exporters/fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await makeFixture('tsbuild-layers-');
});
afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

/** Decompress a blob with a CLI and return the sha256 of the result. */
function cliDiffID(path: string, tool: 'zstd' | 'gzip'): string {
  const out = execFileSync(tool, ['-d', '-c', path], { maxBuffer: 1 << 28 });
  return sha256(out);
}

describe('layer variants', () => {
  it('recompresses to zstd and uncompressed with the same diffID; the zstd CLI agrees', async () => {
    const src = f.result.layers[0]!;
    const z = await prepareLayer(src, { compression: 'zstd' }, f.content);
    expect(z.descriptor.mediaType).toBe(MediaType.OciLayerZstd);
    expect(z.diffID).toBe(src.diffID);
    expect(cliDiffID(f.content.path(z.descriptor.digest), 'zstd')).toBe(src.diffID);
    const u = await prepareLayer(z, { compression: 'uncompressed' }, f.content);
    expect(u.descriptor.mediaType).toBe(MediaType.OciLayer);
    expect(u.descriptor.digest).toBe(src.diffID);
    const g = await prepareLayer(u, { compression: 'gzip', level: 9 }, f.content);
    expect(g.descriptor.mediaType).toBe(MediaType.OciLayerGzip);
    expect(cliDiffID(f.content.path(g.descriptor.digest), 'gzip')).toBe(src.diffID);
  });

  it('keeps a layer already in the wanted compression unless force-compression', async () => {
    const src = f.result.layers[0]!;
    expect(await prepareLayer(src, { compression: 'gzip' }, f.content)).toBe(src);
    // level 9: not the default level the build's layer was made at
    const forced = await prepareLayer(src, { compression: 'gzip', level: 9, force: true }, f.content);
    expect(forced.descriptor.digest).not.toBe(src.descriptor.digest);
    expect(forced.diffID).toBe(src.diffID);
  });

  it('memoizes a variant: the second conversion writes nothing and returns the same blob', async () => {
    const [a, b] = await prepareLayers(f.result.layers, { compression: 'zstd', level: 5 }, f.content);
    const memoDir = join(f.content.root, 'variants');
    const memos = readdirSync(memoDir).length;
    const blobs = readdirSync(join(f.content.root, 'blobs/sha256')).length;
    const before = readdirSync(join(f.content.root, 'blobs/sha256')).map((n) => n);
    const again = await prepareLayers(f.result.layers, { compression: 'zstd', level: 5 }, f.content);
    expect(again.map((l) => l.descriptor.digest)).toEqual([a!.descriptor.digest, b!.descriptor.digest]);
    expect(readdirSync(join(f.content.root, 'blobs/sha256'))).toEqual(before);
    expect(readdirSync(memoDir).length).toBe(memos);
    expect(readdirSync(join(f.content.root, 'blobs/sha256')).length).toBe(blobs);
  });

  it('a memo whose blob is gone is made again', async () => {
    const src = f.result.layers[1]!;
    const v = await prepareLayer(src, { compression: 'uncompressed' }, f.content);
    await f.content.delete(v.descriptor.digest);
    const again = await prepareLayer(src, { compression: 'uncompressed' }, f.content);
    expect(again.descriptor.digest).toBe(v.descriptor.digest);
    expect(await f.content.has(v.descriptor.digest)).toBe(true);
  });

  it('rewrite-timestamp clamps every mtime to the epoch and keeps older ones (GNU tar lists them)', async () => {
    const newer = await tarOf({ 'a.txt': 'a\n', 'b/c.txt': 'c\n' }, new Date(2_000_000_000_000));
    const older = await tarOf({ 'old.txt': 'o\n' }, new Date(1_000_000_000_000));
    const epoch = 1_500_000_000;
    for (const [tar, expectSec] of [[newer, epoch], [older, 1_000_000_000]] as const) {
      const info = await f.content.put(tar);
      const layer = { descriptor: { mediaType: MediaType.OciLayer, digest: info.digest, size: info.size }, diffID: info.digest };
      const out = await prepareLayer(layer, { compression: 'gzip', rewriteTimestamp: epoch }, f.content);
      const file = join(f.dir, 'clamped.tar.gz');
      writeFileSync(file, await f.content.read(out.descriptor.digest));
      const listing = execFileSync('tar', ['--full-time', '-tvzf', file]).toString().trim().split('\n');
      const want = new Date(expectSec * 1000).toISOString().replace('T', ' ').slice(0, 19);
      expect(listing.length).toBeGreaterThan(0);
      for (const line of listing) expect(line).toContain(want);
      expect(cliDiffID(file, 'gzip')).toBe(out.diffID);
      // the same input clamps to the same bytes
      const again = await prepareLayer(layer, { compression: 'gzip', rewriteTimestamp: epoch }, f.content);
      expect(again.descriptor.digest).toBe(out.descriptor.digest);
    }
  });

  it('a corrupt source blob fails and leaves no variant', async () => {
    const data = Buffer.from('not a gzip stream');
    const info = await f.content.put(data);
    const layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size }, diffID: sha256('x') };
    await expect(prepareLayer(layer, { compression: 'zstd' }, f.content)).rejects.toThrow();
    expect(readdirSync(join(f.content.root, 'ingest')).length).toBe(0);
  });
});

describe('layers kept uncompressed, compressed when they leave the store', () => {
  /** A small tree with a few files of varied content (enough for several pigz blocks). */
  function tree(): string {
    const dir = join(f.dir, 'tree');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'a/b'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(dir, i % 2 ? 'a' : 'a/b', `f${i}`), `file ${i}\n`.repeat(500 + i * 300));
    return dir;
  }

  it('the gzip variant of an uncompressed layer is byte for byte the layer a build compressed at commit', async () => {
    const dir = tree();
    const eager = await createLayer({ layerDir: dir, content: f.content });
    const kept = await createLayer({ layerDir: dir, content: f.content, compression: 'none' });
    expect(kept.descriptor).toMatchObject({ mediaType: MediaType.OciLayer, digest: eager.diffID });
    const [out] = await forExport([kept], f.content);
    expect(out).toEqual(eager);
    // compressed layers are left as they are
    expect(await forExport([eager], f.content)).toEqual([eager]);
  });

  it('a variant blob missing at export is made again, with the same digest', async () => {
    const kept = await createLayer({ layerDir: tree(), content: f.content, compression: 'none' });
    const [first] = await forExport([kept], f.content);
    rmSync(f.content.path(first!.descriptor.digest));
    const [again] = await forExport([kept], f.content);
    expect(again).toEqual(first);
    expect(await f.content.has(first!.descriptor.digest)).toBe(true);
  });

  it('a stored manifest with uncompressed layers is pushed as one with their gzip variants (same key order, Docker or OCI types)', async () => {
    const dir = tree();
    const eager = await createLayer({ layerDir: dir, content: f.content });
    const kept = await createLayer({ layerDir: dir, content: f.content, compression: 'none' });
    const base = f.result.layers[0]!; // already gzip: kept
    for (const oci of [true, false]) {
      const manifest = (layers: typeof kept[]) => ({
        schemaVersion: 2,
        mediaType: oci ? MediaType.OciManifest : MediaType.DockerManifest,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: base.descriptor.digest, size: 2 },
        layers: layers.map((l) => ({ mediaType: mediaTypeFor(compressionOf(l.descriptor.mediaType), oci), digest: l.descriptor.digest, size: l.descriptor.size })),
      });
      const put = async (m: object) => {
        const info = await f.content.put(Buffer.from(JSON.stringify(m)));
        return { mediaType: oci ? MediaType.OciManifest : MediaType.DockerManifest, digest: info.digest, size: info.size };
      };
      const stored = await put(manifest([base, kept]));
      const expected = await put(manifest([base, eager]));
      expect(await manifestForExport(f.content, stored)).toEqual(expected);
      // nothing uncompressed: the manifest itself
      expect(await manifestForExport(f.content, expected)).toEqual(expected);
    }
  });
});
