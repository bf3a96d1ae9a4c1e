/**
 * loadArchive: what the save code writes loads back to the same manifest (docker and OCI formats);
 * archives written by skopeo (an independent tool: legacy docker-archive, oci-archive) load and verify;
 * a tampered or incomplete archive fails and imports nothing (no name, no new blob).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, readdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeImageWith } from '../../../exporters/manifest.js';
import { LocalContentStore } from '../../../src/content/store.js';
import { LocalImageStore } from '../../../src/imagestore/store.js';
import { dockerArchiveEntries, ociArchiveEntries } from '../../../src/imagestore/layout.js';
import { withOutputFile, writeTar } from '../../../src/imagestore/output-file.js';
import { loadArchive } from '../../../src/imagestore/load.js';
import type { ImageBlobs } from '../../../exporters/types.js';
import { makeFixture, type Fixture } from '../../exporters/fixture.js';

let f: Fixture;
let image: ImageBlobs;
const NAME = 'docker.io/library/demo:v1';

beforeAll(async () => {
  f = await makeFixture('tsbuild-load-');
  image = await writeImageWith(f.result, f.content, {});
});
afterAll(() => rmSync(f.dir, { recursive: true, force: true }));

function freshStores(name: string) {
  const root = join(f.dir, name);
  return { content: new LocalContentStore(join(root, 'content')), images: new LocalImageStore(join(root, 'images')) };
}

async function save(format: 'docker' | 'oci', file: string) {
  const list = [{ manifest: image.manifest, names: [NAME, 'docker.io/other/demo:v2'] }];
  const entries = format === 'docker' ? await dockerArchiveEntries(list, f.content) : await ociArchiveEntries(list, f.content);
  await withOutputFile(file, 'archive', (out) => writeTar(out, entries));
}

const blobsOf = (c: LocalContentStore) => {
  try {
    return readdirSync(join(c.root, 'blobs/sha256')).sort();
  } catch {
    return [];
  }
};

describe('load', () => {
  for (const format of ['docker', 'oci'] as const) {
    it(`round-trips a ${format} archive: same manifest digest, every name`, async () => {
      const file = join(f.dir, `saved-${format}.tar`);
      await save(format, file);
      const s = freshStores(`rt-${format}`);
      const loaded = await loadArchive(createReadStream(file), s.content, s.images);
      expect(loaded.map((l) => l.manifest.digest)).toEqual([image.manifest.digest]);
      expect((await s.images.list()).map((r) => [r.name, r.target.digest])).toEqual([
        [NAME, image.manifest.digest],
        ['docker.io/other/demo:v2', image.manifest.digest],
      ]);
      const want = [image.manifest.digest, image.config.digest, ...f.result.layers.map((l) => l.descriptor.digest)].map((d) => d.slice(7)).sort();
      expect(blobsOf(s.content)).toEqual(want);
    });
  }

  it('loads what skopeo writes (legacy docker-archive with uncompressed layer.tar files, gzip archive, oci-archive)', async () => {
    const src = join(f.dir, 'src-oci.tar');
    await save('oci', src);
    const legacy = join(f.dir, 'legacy.tar');
    execFileSync('skopeo', ['copy', '-q', `oci-archive:${src}:v1`, `docker-archive:${legacy}:sk/demo:3`]);
    const s = freshStores('skopeo');
    const [l] = await loadArchive(createReadStream(legacy), s.content, s.images);
    expect(l!.names).toEqual(['docker.io/sk/demo:3']);
    expect(l!.configDigest).toBe(image.config.digest);
    // gzip of the whole archive (docker save | gzip)
    execFileSync('sh', ['-c', `gzip -c '${legacy}' > '${legacy}.gz'`]);
    const [g] = await loadArchive(createReadStream(legacy + '.gz'), s.content, s.images, { tags: ['gz:1'] });
    expect(g!.manifest.digest).toBe(l!.manifest.digest);
    const ociOut = join(f.dir, 'sk-oci.tar');
    execFileSync('skopeo', ['copy', '-q', `oci-archive:${src}:v1`, `oci-archive:${ociOut}:docker.io/library/x:9`]);
    const [o] = await loadArchive(createReadStream(ociOut), s.content, s.images);
    expect(o!.configDigest).toBe(image.config.digest);
    expect(o!.names).toEqual(['docker.io/library/x:9']);
  });

  it('a tampered blob fails with a digest error and imports nothing', async () => {
    const file = join(f.dir, 'saved-docker-t.tar');
    await save('docker', file);
    const dir = join(f.dir, 'tamper');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    const layer = f.result.layers[1]!.descriptor.digest.slice(7);
    appendFileSync(join(dir, 'blobs/sha256', layer), 'x');
    execFileSync('tar', ['-cf', join(f.dir, 'tampered.tar'), '-C', dir, '.']);
    const s = freshStores('tampered');
    await expect(loadArchive(createReadStream(join(f.dir, 'tampered.tar')), s.content, s.images)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await s.images.list()).toEqual([]);
    expect(blobsOf(s.content)).toEqual([]);
    expect(readdirSync(join(s.content.root, 'ingest')).length).toBe(0);
  });

  it('an archive missing a layer, or not an archive at all, imports nothing', async () => {
    const file = join(f.dir, 'saved-docker-m.tar');
    await save('docker', file);
    const dir = join(f.dir, 'missing');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    rmSync(join(dir, 'blobs/sha256', f.result.layers[0]!.descriptor.digest.slice(7)));
    execFileSync('tar', ['-cf', join(f.dir, 'missing.tar'), '-C', dir, '.']);
    const s = freshStores('missing');
    await expect(loadArchive(createReadStream(join(f.dir, 'missing.tar')), s.content, s.images)).rejects.toThrow(/missing/);
    expect(await s.images.list()).toEqual([]);
    expect(blobsOf(s.content)).toEqual([]);
    writeFileSync(join(f.dir, 'junk.tar'), 'this is not a tar archive at all'.repeat(40));
    await expect(loadArchive(createReadStream(join(f.dir, 'junk.tar')), s.content, s.images)).rejects.toThrow(/not an image archive|cannot load/);
    expect(await s.images.list()).toEqual([]);
  });
});
