/**
 * The OCI tarball exporter, checked with skopeo and umoci (independent tools), on a layer made here
 * with tar-stream: config and manifest digests, determinism, and atomic failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { LocalContentStore } from '../../src/content/store.js';
import { LocalImageStore } from '../../src/imagestore/store.js';
import { MediaType, type Layer } from '../../src/image/types.js';
import { sha256 } from '../../src/llb/digest.js';
import type { BuildResult } from '../../src/llb/result.js';
import { writeImage } from '../../exporters/manifest.js';
import { OciTarExporter } from '../../exporters/oci.js';
import { ImageStoreExporter } from '../../exporters/image.js';
import { nullProgress } from '../../src/progress/types.js';

let dir: string;
let content: LocalContentStore;
let images: LocalImageStore;
let result: BuildResult;

async function layerOf(files: Record<string, string>): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res) => {
    p.on('data', (c: Buffer) => chunks.push(c));
    p.on('end', () => res());
  });
  for (const [name, text] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime: new Date(0) }, text);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-oci-'));
  content = new LocalContentStore(join(dir, 'content'));
  images = new LocalImageStore(join(dir, 'images'));
  const tar = await layerOf({ 'hello.txt': 'hello\n', 'etc/motd': 'welcome\n' });
  const gz = gzipSync(tar);
  const info = await content.put(gz);
  const layer: Layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size }, diffID: sha256(tar) };
  result = {
    layers: [layer],
    image: {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/hello.txt'], Env: ['PATH=/usr/bin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created_by: 'COPY hello.txt / # buildkit' }],
    },
    snapshot: null,
    vertices: [],
    created: '2026-01-02T03:04:05.000Z',
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OCI tarball exporter', () => {
  it('writes an archive skopeo inspects and umoci unpacks to exactly the layer', async () => {
    const blobs = await writeImage(result, content, {});
    const out = join(dir, 'out.tar');
    await new OciTarExporter(out, 'docker.io/library/demo:v1').export(result, blobs, { content, images, progress: nullProgress });
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${out}`]).toString());
    expect(inspect.Digest).toBe(blobs.manifest.digest);
    expect(inspect.Layers).toEqual([result.layers[0]!.descriptor.digest]);
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${out}`]).toString());
    expect(cfg.created).toMatch(/^2026-01-02T03:04:05(\.000)?Z$/);
    expect(cfg.rootfs.diff_ids).toEqual([result.layers[0]!.diffID]);
    expect(cfg.history[0].created_by).toBe('COPY hello.txt / # buildkit');
    const layout = join(dir, 'layout');
    mkdirSync(layout);
    execFileSync('tar', ['-xf', out, '-C', layout]);
    execFileSync('umoci', ['unpack', '--image', `${layout}:v1`, join(dir, 'bundle')], { stdio: 'pipe' });
    expect(readFileSync(join(dir, 'bundle/rootfs/hello.txt'), 'utf8')).toBe('hello\n');
    expect(readdirSync(join(dir, 'bundle/rootfs')).sort()).toEqual(['etc', 'hello.txt']);
  });

  it('is deterministic: same result, same bytes; SOURCE_DATE_EPOCH sets the created time', async () => {
    const a = await writeImage(result, content, {});
    const b = await writeImage(result, content, {});
    expect(a.manifest.digest).toBe(b.manifest.digest);
    const c = await writeImage(result, content, { SOURCE_DATE_EPOCH: '0' });
    expect(c.manifest.digest).not.toBe(a.manifest.digest);
    const cfg = JSON.parse((await content.read(c.config.digest)).toString());
    expect(cfg.created).toBe('1970-01-01T00:00:00Z');
    expect(cfg.history[0].created).toBe('1970-01-01T00:00:00Z');
    const o1 = join(dir, 'd1.tar');
    const o2 = join(dir, 'd2.tar');
    await new OciTarExporter(o1, 'docker.io/library/demo:v1').export(result, a, { content, images, progress: nullProgress });
    await new OciTarExporter(o2, 'docker.io/library/demo:v1').export(result, a, { content, images, progress: nullProgress });
    expect(sha256(readFileSync(o1))).toBe(sha256(readFileSync(o2)));
  });

  it('fails clearly and leaves no partial file when the destination cannot be written', async () => {
    const blobs = await writeImage(result, content, {});
    const bad = join(dir, 'no-such-dir', 'out.tar');
    await expect(new OciTarExporter(bad).export(result, blobs, { content, images, progress: nullProgress })).rejects.toThrow(/cannot write OCI archive .*no-such-dir/);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
    const before = readdirSync(dir).sort();
    await expect(new OciTarExporter(dir).export(result, blobs, { content, images, progress: nullProgress })).rejects.toThrow(/cannot write OCI archive/);
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('tags the image in the local store and leaves an unchanged tag alone', async () => {
    const blobs = await writeImage(result, content, {});
    await new ImageStoreExporter(['docker.io/library/demo:v1']).export(result, blobs, { content, images, progress: nullProgress });
    const rec = await images.get('docker.io/library/demo:v1');
    expect(rec?.target.digest).toBe(blobs.manifest.digest);
    await new ImageStoreExporter(['docker.io/library/demo:v1']).export(result, blobs, { content, images, progress: nullProgress });
    expect((await images.get('docker.io/library/demo:v1'))?.created).toBe(rec?.created);
  });
});
