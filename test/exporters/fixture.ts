/** A BuildResult made of real gzip layers written with tar-stream, in a temp content store. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { LocalContentStore } from '../../src/content/store.js';
import { LocalImageStore } from '../../src/imagestore/store.js';
import { MediaType, type Layer } from '../../src/image/types.js';
import { sha256 } from '../../src/llb/digest.js';
import type { BuildResult } from '../../src/llb/result.js';
import { nullProgress } from '../../src/progress/types.js';
import type { ExportContext } from '../../exporters/types.js';

export async function tarOf(files: Record<string, string>, mtime = new Date(1_700_000_000_000)): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res) => {
    p.on('data', (c: Buffer) => chunks.push(c));
    p.on('end', () => res());
  });
  for (const [name, text] of Object.entries(files)) p.entry({ name, mode: 0o644, mtime, uid: 0, gid: 0 }, text);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface Fixture {
  dir: string;
  content: LocalContentStore;
  images: LocalImageStore;
  ctx: ExportContext;
  result: BuildResult;
}

export async function makeFixture(prefix: string): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const content = new LocalContentStore(join(dir, 'content'));
  const images = new LocalImageStore(join(dir, 'images'));
  const layers: Layer[] = [];
  for (const files of [{ 'hello.txt': 'hello\n', 'etc/motd': 'welcome\n' }, { 'app/main.sh': 'echo hi\n'.repeat(100) }]) {
    const tar = await tarOf(files);
    const gz = gzipSync(tar);
    const info = await content.put(gz);
    layers.push({ descriptor: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size }, diffID: sha256(tar) });
  }
  const result: BuildResult = {
    layers,
    image: {
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'], Labels: { from: 'dockerfile' } },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [
        { created: '2020-01-01T00:00:00Z', created_by: 'COPY hello.txt / # buildkit', comment: 'buildkit.dockerfile.v0' },
        { created_by: 'ENV A=b', comment: 'buildkit.dockerfile.v0', empty_layer: true },
        { created_by: 'COPY app / # buildkit', comment: 'buildkit.dockerfile.v0' },
      ],
    },
    snapshot: null,
    vertices: [],
    created: '2026-01-02T03:04:05.000Z',
  };
  return { dir, content, images, ctx: { content, images, progress: nullProgress }, result };
}
