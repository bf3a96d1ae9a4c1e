/**
 * `type=docker,dest=out.tar`: the archive `docker load` reads. Written like `docker save` of Docker 25+:
 * an OCI layout (oci-layout, index.json, blobs/sha256/*) plus Docker's `manifest.json` (Config, RepoTags,
 * Layers as paths to blobs) and `repositories`. Docker media types unless oci-mediatypes=true.
 * Same image → same bytes; the file appears only when complete.
 */
import type { BuildResult } from '../src/llb/result.js';
import { withOutputFile, writeTar } from '../src/imagestore/output-file.js';
import { dockerArchiveEntries } from '../src/imagestore/layout.js';
import { imageFor, parseImageOptions, type ImageExportOptions } from './options.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';

export class DockerTarExporter implements Exporter {
  readonly type = 'docker';
  private readonly opts: ImageExportOptions;
  constructor(
    private readonly dest: string,
    /** Normalized names (docker.io/library/app:v1): RepoTags. */
    private readonly names: string[],
    attrs: Record<string, string> = {},
  ) {
    this.opts = parseImageOptions(attrs);
  }

  async export(result: BuildResult, base: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const image = await imageFor(result, base, this.opts, false, ctx);
    const entries = await dockerArchiveEntries([{ manifest: image.manifest, names: this.names }], ctx.content, this.opts.indexAnnotations);
    const where = await withOutputFile(this.dest, 'Docker archive', (out) => writeTar(out, entries, ctx.signal), ctx.stdout);
    return { message: `exporting to docker image format ${where}`, ...(image.manifest.digest !== base.manifest.digest ? { manifest: image.manifest, config: image.config } : {}) };
  }
}

