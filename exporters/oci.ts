/**
 * `type=oci,dest=out.tar`: an OCI image layout (oci-layout, index.json, blobs/sha256/*) as a tarball,
 * or with `tar=false` as a directory. A tarball appears only when complete (temp file, fsync, rename);
 * in a directory every blob is written atomically and index.json last, so a failed export never leaves
 * an index naming a missing blob. Entries are sorted with fixed metadata: the same image gives the same bytes.
 */
import { layoutBlobPath } from '../src/content/digest.js';
import { copyFile, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../src/fsutil/atomic.js';
import { withTempLease } from '../src/fsutil/temp-lease.js';
import type { Descriptor, Index } from '../src/image/types.js';
import type { BuildResult } from '../src/llb/result.js';
import { exportError, withOutputFile, writeTar } from '../src/imagestore/output-file.js';
import { imageBlobs, indexFor, layoutEntries } from '../src/imagestore/layout.js';
import { imageFor, parseImageOptions, type ImageExportOptions } from './options.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import { writePlatformIndex, type PlatformImage } from './platforms.js';

export interface OciExportOptions {
  /** Write a layout directory instead of a tarball. */
  directory?: boolean;
  /** Output attributes (compression=, annotation.K=, …). */
  attrs?: Record<string, string>;
}

export class OciTarExporter implements Exporter {
  readonly type = 'oci';
  private readonly opts: ImageExportOptions;
  constructor(
    private readonly dest: string,
    /** Normalized image name (docker.io/library/app:v1), recorded as annotations; optional. */
    private readonly name?: string,
    private readonly options: OciExportOptions = {},
  ) {
    this.opts = parseImageOptions(options.attrs ?? {});
  }

  /** Several platforms: index.json names the image index (annotation-index.* go on it); every platform's blobs are in the layout. */
  async exportPlatforms(images: PlatformImage[], ctx: ExportContext): Promise<ExportResponse> {
    const { index: top, images: made } = await writePlatformIndex(images, this.opts, true, ctx);
    const index = indexFor(top, this.name ? [this.name] : []);
    const seen = new Map<string, Descriptor>([[top.digest, top]]);
    for (const m of made) for (const b of await imageBlobs(m.manifest, ctx.content)) seen.set(b.digest, b);
    const blobs = [...seen.values()].sort((a, c) => (a.digest < c.digest ? -1 : a.digest > c.digest ? 1 : 0));
    const extra = { manifest: top, config: top };
    if (this.options.directory) return { message: `exporting to oci layout ${await writeLayoutDir(this.dest, blobs, index, ctx)}`, ...extra };
    const where = await withOutputFile(this.dest, 'OCI archive', (out) => writeTar(out, layoutEntries(blobs, ctx.content, index), ctx.signal), ctx.stdout);
    return { message: `exporting to oci image format ${where}`, ...extra };
  }

  async export(result: BuildResult, base: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const image = await imageFor(result, base, this.opts, true, ctx);
    const index = indexFor(image.manifest, this.name ? [this.name] : [], this.opts.indexAnnotations);
    const blobs = await imageBlobs(image.manifest, ctx.content);
    const extra = image.manifest.digest !== base.manifest.digest ? { manifest: image.manifest, config: image.config } : {};
    if (this.options.directory) {
      const dir = await writeLayoutDir(this.dest, blobs, index, ctx);
      return { message: `exporting to oci layout ${dir}`, ...extra };
    }
    const entries = layoutEntries(blobs, ctx.content, index);
    const where = await withOutputFile(this.dest, 'OCI archive', (out) => writeTar(out, entries, ctx.signal), ctx.stdout);
    return { message: `exporting to oci image format ${where}`, ...extra };
  }
}

/**
 * Write (or add to) an OCI layout directory. An existing layout keeps its other images: the new
 * manifest replaces an entry of the same name, others stay.
 */
async function writeLayoutDir(dest: string, blobs: Descriptor[], index: Index, ctx: ExportContext): Promise<string> {
  const dir = resolve(dest);
  const existed = await stat(dir).then(() => true, () => false);
  try {
    for (const b of blobs) {
      ctx.signal?.throwIfAborted();
      const target = join(dir, layoutBlobPath(b.digest));
      await mkdir(dirname(target), { recursive: true });
      if (await stat(target).then((s) => s.size === b.size, () => false)) continue;
      const tmp = tempPathFor(target);
      await withTempLease(tmp, async () => {
        try {
          await copyFile(ctx.content.path(b.digest), tmp);
          const fh = await open(tmp, 'r+');
          await fh.sync();
          await fh.close();
          await rename(tmp, target);
        } catch (err) {
          await unlink(tmp).catch(() => {});
          throw err;
        }
      });
    }
    for (const d of new Set(blobs.map((b) => dirname(join(dir, layoutBlobPath(b.digest)))))) await fsyncDir(d);
    await writeFileAtomic(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }), { leased: true });
    let merged = index;
    const prev = await readFile(join(dir, 'index.json'), 'utf8').then((t) => JSON.parse(t) as Index, () => undefined);
    if (prev?.manifests) {
      const name = index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name'];
      const keep = prev.manifests.filter((m) => m.digest !== index.manifests[0]!.digest && (name === undefined || m.annotations?.['org.opencontainers.image.ref.name'] !== name));
      merged = { ...index, manifests: [...keep, ...index.manifests] };
    }
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(merged), { leased: true });
    return dir;
  } catch (err) {
    if (!existed) await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw exportError('OCI layout', dir, err);
  }
}
