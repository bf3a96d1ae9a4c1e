/**
 * `type=oci,dest=out.tar`: an OCI image layout (oci-layout, index.json, blobs/sha256/*) as a tarball.
 * Written to a temp file next to dest, fsynced and renamed: a failed export leaves no partial file.
 * Entries are sorted and have fixed metadata, so the same image gives the same bytes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { fsyncDir, tempPathFor } from '../src/fsutil/atomic.js';
import { MediaType, type Index, type Manifest } from '../src/image/types.js';
import { TsbuildError } from '../src/errors.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import type { BuildResult } from '../src/llb/result.js';

export class OciTarExporter implements Exporter {
  readonly type = 'oci';
  constructor(
    private readonly dest: string,
    /** Normalized image name (docker.io/library/app:v1), recorded as annotations; optional. */
    private readonly name?: string,
  ) {}

  async export(_result: BuildResult, image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const dest = resolve(this.dest);
    const manifest = JSON.parse((await ctx.content.read(image.manifest.digest)).toString()) as Manifest;
    const blobs = [image.manifest, manifest.config, ...manifest.layers];
    const annotations: Record<string, string> = {};
    if (this.name) {
      annotations['io.containerd.image.name'] = this.name;
      const tag = /:([\w][\w.-]{0,127})$/.exec(this.name.replace(/@.*$/, ''))?.[1];
      if (tag) annotations['org.opencontainers.image.ref.name'] = tag;
    }
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ ...image.manifest, ...(Object.keys(annotations).length ? { annotations } : {}) }],
    };
    const tmp = tempPathFor(dest);
    try {
      const pack = tarPack();
      const fd = await open(tmp, 'wx', 0o644); // fails early (and cleanly) when dest's dir is missing or read-only
      const out = createWriteStream('', { fd: fd.fd });
      const done = pipeline(pack, out);
      done.catch(() => {}); // awaited below; avoid an unhandled rejection while entries are still being added
      const header = (name: string, size: number, type: 'file' | 'directory' = 'file') => ({
        name,
        size,
        type,
        mode: type === 'directory' ? 0o755 : 0o644,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
      });
      const addBuffer = (name: string, data: Buffer) =>
        new Promise<void>((res, rej) => pack.entry(header(name, data.length), data, (err) => (err ? rej(err) : res())));
      await new Promise<void>((res, rej) => pack.entry(header('blobs/', 0, 'directory'), (e) => (e ? rej(e) : res())));
      await new Promise<void>((res, rej) => pack.entry(header('blobs/sha256/', 0, 'directory'), (e) => (e ? rej(e) : res())));
      const seen = new Set<string>();
      for (const b of [...blobs].sort((a, c) => (a.digest < c.digest ? -1 : 1))) {
        if (seen.has(b.digest)) continue;
        seen.add(b.digest);
        ctx.signal?.throwIfAborted();
        const entry = pack.entry(header(`blobs/sha256/${b.digest.slice('sha256:'.length)}`, b.size));
        await pipeline(createReadStream(ctx.content.path(b.digest)), entry);
      }
      await addBuffer('index.json', Buffer.from(JSON.stringify(index)));
      await addBuffer('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
      pack.finalize();
      await done;
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await rename(tmp, dest);
      await fsyncDir(dirname(dest));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      if (err instanceof TsbuildError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new TsbuildError('EXPORT_FAILED', `cannot write OCI archive ${dest}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '), { cause: err });
    }
    return { message: `exporting to oci image format ${dest}` };
  }
}
