/**
 * Image archives and layouts, each read back by independent tools: skopeo (docker-archive:, oci-archive:,
 * oci: transports), umoci (unpack), GNU tar. Output options (compression, media types, annotations,
 * names), SOURCE_DATE_EPOCH and --label in the config, determinism, and atomic failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerTarExporter } from '../../exporters/docker.js';
import { writeImageWith } from '../../exporters/manifest.js';
import { OciTarExporter } from '../../exporters/oci.js';
import { ImageStoreExporter } from '../../exporters/image.js';
import { MediaType } from '../../src/image/types.js';
import { makeFixture, type Fixture } from './fixture.js';

let f: Fixture;
beforeAll(async () => {
  f = await makeFixture('tsbuild-archives-');
});
afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

const skopeo = (...args: string[]) => JSON.parse(execFileSync('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString());

describe('docker archive (type=docker)', () => {
  it('skopeo reads it as docker-archive, with RepoTags, Docker media types and the config', async () => {
    const imageOptions = { labels: { extra: 'label' } };
    const base = await writeImageWith(f.result, f.content, imageOptions);
    const out = join(f.dir, 'docker.tar');
    const r = await new DockerTarExporter(out, ['docker.io/library/demo:v1', 'docker.io/me/demo:v2']).export(f.result, base, { ...f.ctx, imageOptions });
    const names = execFileSync('tar', ['-tf', out]).toString().split('\n');
    expect(names).toEqual(expect.arrayContaining(['manifest.json', 'repositories', 'index.json', 'oci-layout']));
    const dm = JSON.parse(execFileSync('tar', ['-xOf', out, 'manifest.json']).toString());
    expect(dm[0].RepoTags).toEqual(['demo:v1', 'me/demo:v2']);
    const raw = skopeo('inspect', '--raw', `docker-archive:${out}`);
    expect(raw.mediaType).toBe(MediaType.DockerManifest);
    const cfg = skopeo('inspect', '--config', `docker-archive:${out}:demo:v1`);
    expect(cfg.config.Labels).toEqual({ from: 'dockerfile', extra: 'label' });
    expect(cfg.rootfs.diff_ids).toEqual(f.result.layers.map((l) => l.diffID));
    // Docker media types make another manifest, reported as this output's own
    expect(r.manifest?.digest).not.toBe(base.manifest.digest);
    // skopeo copies it into an OCI layout that umoci unpacks
    const layout = join(f.dir, 'from-docker');
    execFileSync('skopeo', ['copy', '-q', `docker-archive:${out}:demo:v1`, `oci:${layout}:x`]);
    execFileSync('umoci', ['unpack', '--image', `${layout}:x`, join(f.dir, 'bundle-docker')], { stdio: 'pipe' });
    expect(readFileSync(join(f.dir, 'bundle-docker/rootfs/app/main.sh'), 'utf8')).toBe('echo hi\n'.repeat(100));
  });

  it('oci-mediatypes=true keeps the build manifest', async () => {
    const base = await writeImageWith(f.result, f.content, {});
    const out = join(f.dir, 'docker-oci.tar');
    const r = await new DockerTarExporter(out, ['docker.io/library/demo:v1'], { 'oci-mediatypes': 'true' }).export(f.result, base, f.ctx);
    expect(r.manifest).toBeUndefined();
    const index = JSON.parse(execFileSync('tar', ['-xOf', out, 'index.json']).toString());
    expect(index.manifests[0].digest).toBe(base.manifest.digest);
    expect(skopeo('inspect', '--config', `docker-archive:${out}`).rootfs.diff_ids).toEqual(f.result.layers.map((l) => l.diffID));
  });
});

describe('OCI layout directory (type=oci,tar=false)', () => {
  it('skopeo reads it with the oci: transport; a second image is added, not replacing the first', async () => {
    const base = await writeImageWith(f.result, f.content, {});
    const dir = join(f.dir, 'layout');
    await new OciTarExporter(dir, 'docker.io/library/demo:v1', { directory: true }).export(f.result, base, f.ctx);
    expect(skopeo('inspect', `oci:${dir}:v1`).Digest).toBe(base.manifest.digest);
    const z = await new OciTarExporter(dir, 'docker.io/library/demo:zstd', { directory: true, attrs: { compression: 'zstd' } }).export(f.result, base, f.ctx);
    expect(skopeo('inspect', `oci:${dir}:v1`).Digest).toBe(base.manifest.digest);
    const zi = skopeo('inspect', `oci:${dir}:zstd`);
    expect(zi.Digest).toBe(z.manifest!.digest);
    const zraw = skopeo('inspect', '--raw', `oci:${dir}:zstd`);
    expect(zraw.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MediaType.OciLayerZstd, MediaType.OciLayerZstd]);
    // umoci here has no zstd: read the zstd layers with the zstd CLI and GNU tar
    const listed = zraw.layers.map((l: { digest: string }) =>
      execFileSync('sh', ['-c', `zstd -dc '${join(dir, 'blobs/sha256', l.digest.slice(7))}' | tar -t`]).toString().trim().split('\n'),
    );
    expect(listed).toEqual([['hello.txt', 'etc/motd'], ['app/main.sh']]);
    execFileSync('umoci', ['unpack', '--image', `${dir}:v1`, join(f.dir, 'bundle-v1')], { stdio: 'pipe' });
    expect(readFileSync(join(f.dir, 'bundle-v1/rootfs/hello.txt'), 'utf8')).toBe('hello\n');
    expect(readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });
});

describe('OCI archive options', () => {
  it('compression=uncompressed, annotations on the manifest and the index; deterministic bytes', async () => {
    const base = await writeImageWith(f.result, f.content, {});
    const attrs = { compression: 'uncompressed', 'annotation.org.opencontainers.image.title': 'demo', 'annotation-index.com.example.k': 'v' };
    const a = join(f.dir, 'a.tar');
    const b = join(f.dir, 'b.tar');
    await new OciTarExporter(a, 'docker.io/library/demo:v1', { attrs }).export(f.result, base, f.ctx);
    await new OciTarExporter(b, 'docker.io/library/demo:v1', { attrs }).export(f.result, base, f.ctx);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const raw = skopeo('inspect', '--raw', `oci-archive:${a}`);
    expect(raw.annotations).toEqual({ 'org.opencontainers.image.title': 'demo' });
    expect(raw.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([MediaType.OciLayer, MediaType.OciLayer]);
    expect(raw.layers.map((l: { digest: string }) => l.digest)).toEqual(f.result.layers.map((l) => l.diffID));
    const index = JSON.parse(execFileSync('tar', ['-xOf', a, 'index.json']).toString());
    expect(index.annotations).toEqual({ 'com.example.k': 'v' });
  });

  it('SOURCE_DATE_EPOCH sets the created time and clamps later history; older history stays', async () => {
    const img = await writeImageWith(f.result, f.content, { sourceDateEpoch: 1_600_000_000 });
    const cfg = JSON.parse((await f.content.read(img.config.digest)).toString());
    expect(cfg.created).toBe('2020-09-13T12:26:40Z');
    expect(cfg.history.map((h: { created: string }) => h.created)).toEqual(['2020-01-01T00:00:00Z', '2020-09-13T12:26:40Z', '2020-09-13T12:26:40Z']);
    expect(cfg.history[1].empty_layer).toBe(true);
    const again = await writeImageWith(f.result, f.content, { sourceDateEpoch: 1_600_000_000 });
    expect(again.manifest.digest).toBe(img.manifest.digest);
  });

  it('an unwritable destination fails clearly and leaves no file', async () => {
    const base = await writeImageWith(f.result, f.content, {});
    const ro = join(f.dir, 'readonly');
    mkdirSync(ro);
    execFileSync('chattr', ['+i', ro]);
    try {
      await expect(new OciTarExporter(join(ro, 'x.tar')).export(f.result, base, f.ctx)).rejects.toThrow(/cannot write OCI archive .*x\.tar: permission denied/);
      await expect(new DockerTarExporter(join(ro, 'x.tar'), []).export(f.result, base, f.ctx)).rejects.toThrow(/cannot write Docker archive/);
      await expect(new OciTarExporter(join(ro, 'lay'), undefined, { directory: true }).export(f.result, base, f.ctx)).rejects.toThrow(/cannot write OCI layout/);
    } finally {
      execFileSync('chattr', ['-i', ro]);
    }
    expect(readdirSync(ro)).toEqual([]);
    await expect(new OciTarExporter(join(f.dir, 'missing-dir', 'x.tar')).export(f.result, base, f.ctx)).rejects.toThrow(/no such directory/);
    expect(existsSync(join(f.dir, 'missing-dir'))).toBe(false);
  });
});

describe('image store output', () => {
  it('type=image with options stores its own variant under every name', async () => {
    const base = await writeImageWith(f.result, f.content, {});
    const r = await new ImageStoreExporter(['docker.io/library/demo:z1', 'docker.io/library/demo:z2'], { compression: 'zstd' }).export(f.result, base, f.ctx);
    const a = await f.images.get('docker.io/library/demo:z1');
    expect(a!.target.digest).toBe(r.manifest!.digest);
    expect((await f.images.get('docker.io/library/demo:z2'))!.target.digest).toBe(r.manifest!.digest);
    writeFileSync(join(f.dir, 'unused'), '');
  });
});
