/** `type=image`: name the image in tsbuild's local image store (one atomic record per tag). */
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import type { BuildResult } from '../src/llb/result.js';

export class ImageStoreExporter implements Exporter {
  readonly type = 'image';
  constructor(private readonly names: string[]) {}

  async export(_result: BuildResult, image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    for (const name of this.names) {
      const cur = await ctx.images.get(name);
      if (cur && cur.target.digest === image.manifest.digest) continue; // unchanged: nothing to write
      await ctx.images.put(name, image.manifest);
    }
    return { message: `naming to ${this.names.join(', ')}` };
  }
}
