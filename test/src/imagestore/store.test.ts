import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalImageStore } from '../../../src/imagestore/store.js';
import { MediaType, type Descriptor } from '../../../src/image/types.js';

const desc = (n: number): Descriptor => ({ mediaType: MediaType.OciManifest, digest: 'sha256:' + String(n).repeat(64).slice(0, 64), size: 100 + n });

describe('LocalImageStore', () => {
  let tmp: string;
  let store: LocalImageStore;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-images-'));
    store = new LocalImageStore(join(tmp, 'images'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('put, get, overwrite, list sorted by name, delete', async () => {
    expect(await store.list()).toEqual([]);
    expect(await store.get('docker.io/library/app:v1')).toBeUndefined();
    const rec = await store.put('docker.io/library/app:v1', desc(1));
    expect(rec).toMatchObject({ name: 'docker.io/library/app:v1', target: desc(1) });
    expect(Date.parse(rec.created)).not.toBeNaN();
    expect(await store.get('docker.io/library/app:v1')).toEqual(rec);
    await store.put('localhost:5000/z:1', desc(2));
    await store.put('docker.io/library/alpha:latest', desc(3));
    const again = await store.put('docker.io/library/app:v1', desc(4));
    expect((await store.list()).map((r) => [r.name, r.target.size])).toEqual([
      ['docker.io/library/alpha:latest', 103],
      ['docker.io/library/app:v1', 104],
      ['localhost:5000/z:1', 102],
    ]);
    expect(await store.get('docker.io/library/app:v1')).toEqual(again);
    expect(await store.delete('docker.io/library/app:v1')).toBe(true);
    expect(await store.delete('docker.io/library/app:v1')).toBe(false);
    expect((await store.list()).map((r) => r.name)).toEqual(['docker.io/library/alpha:latest', 'localhost:5000/z:1']);
    // one file per name, no temp files left
    expect((await readdir(join(tmp, 'images'))).every((n) => /^[0-9a-f]{64}\.json$/.test(n))).toBe(true);
  });

  it('concurrent puts of different names all land', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `docker.io/library/img${String(i).padStart(2, '0')}:t`);
    await Promise.all(names.map((n, i) => store.put(n, desc(i % 10))));
    expect((await store.list()).map((r) => r.name)).toEqual(names);
  });

  it('ignores temp files and reports a corrupt record', async () => {
    await store.put('a', desc(1));
    await writeFile(join(tmp, 'images', '.x.json.tmp-1-abc'), '{');
    expect((await store.list()).map((r) => r.name)).toEqual(['a']);
    await writeFile(join(tmp, 'images', 'f'.repeat(64) + '.json'), '{broken');
    await expect(store.list()).rejects.toMatchObject({ code: 'IMAGE_RECORD_CORRUPT' });
  });
});
