/** `type=image`: name the image in tsbuild's local image store (one atomic record per tag). */
import type { BuildResult } from '../src/llb/result.js';
import { imageFor, parseImageOptions, type ImageExportOptions } from './options.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import { writePlatformIndex, type PlatformImage } from './platforms.js';

export class ImageStoreExporter implements Exporter {
  readonly type = 'image';
  private readonly opts: ImageExportOptions;
  constructor(
    private readonly names: string[],
    /** Output attributes (compression=, oci-mediatypes=, annotation.K=, …). */
    attrs: Record<string, string> = {},
  ) {
    this.opts = parseImageOptions(attrs);
  }

  async export(result: BuildResult, base: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const image = await imageFor(result, base, this.opts, true, ctx, true);
    for (const name of this.names) {
      const cur = await ctx.images.get(name);
      if (cur && cur.target.digest === image.manifest.digest) continue; // unchanged: nothing to write
      await ctx.images.put(name, image.manifest);
    }
    return { message: `naming to ${this.names.join(', ')}`, ...(image.manifest.digest !== base.manifest.digest ? { manifest: image.manifest, config: image.config } : {}) };
  }

  /** Several platforms: each name → the image index (a build for one platform resolves its manifest from it). */
  async exportPlatforms(images: PlatformImage[], ctx: ExportContext): Promise<ExportResponse> {
    const { index } = await writePlatformIndex(images, this.opts, true, ctx);
    for (const name of this.names) {
      const cur = await ctx.images.get(name);
      if (cur && cur.target.digest === index.digest) continue;
      await ctx.images.put(name, index);
    }
    return { message: `naming to ${this.names.join(', ')}`, manifest: index, config: index };
  }
}
