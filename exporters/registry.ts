/**
 * `--push` / `type=registry`: push the built image to a registry under each name (blobs the registry has are
 * skipped, blobs known in another repository of the same registry are mounted).
 */
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import type { BuildResult } from '../src/llb/result.js';
import type { RegistryClient } from '../src/registry/index.js';
import type { Descriptor } from '../src/image/types.js';
import { parseImageOptions, type ImageExportOptions } from './options.js';
import { writePlatformIndex, type PlatformImage } from './platforms.js';

export class RegistryExporter implements Exporter {
  readonly type = 'registry';
  /** `names`: normalized references (`host:port/repo:tag`). */
  constructor(
    private readonly names: string[],
    /** Made on first use, so that building without pushing never loads the registry client. */
    private readonly client: () => Promise<RegistryClient>,
  ) {}

  async export(_result: BuildResult, image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    return this.push(image.manifest, ctx);
  }

  /** Several platforms: the image index (its manifests, configs and layers first) under each name. */
  async exportPlatforms(images: PlatformImage[], ctx: ExportContext, opts: ImageExportOptions = parseImageOptions({})): Promise<ExportResponse> {
    const { index } = await writePlatformIndex(images, opts, true, ctx);
    return { ...(await this.push(index, ctx)), manifest: index, config: index };
  }

  private async push(top: Descriptor, ctx: ExportContext): Promise<ExportResponse> {
    const at = Date.now();
    const id = 'export:push';
    const name = `pushing ${this.names.join(', ')}`;
    ctx.progress.emit({ type: 'vertex.started', id, name, at });
    const s = await (await this.client()).push(this.names, top, { content: ctx.content, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.ensureBlob ? { ensureBlob: ctx.ensureBlob } : {}) });
    ctx.progress.emit({ type: 'vertex.done', id, name, at: Date.now(), durationMs: Date.now() - at });
    return { message: `pushed ${this.names.join(', ')} (${s.uploaded} uploaded, ${s.mounted} mounted, ${s.skipped} already there)` };
  }
}
