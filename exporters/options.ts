/**
 * Per-output image options (buildx attributes): compression=, compression-level=, force-compression=,
 * oci-mediatypes=, rewrite-timestamp=, annotation.KEY= / annotation-manifest.KEY= (manifest),
 * annotation-index.KEY= (the OCI layout's index). An output with none of them reuses the build's image.
 */
import { TsbuildError } from '../src/errors.js';
import type { BuildResult } from '../src/llb/result.js';
import { compressionOf, type Compression } from '../src/diff/compress.js';
import { hasUncompressed, mapLimited, prepareLayer, type LayerOptions } from '../src/diff/variants.js';
import { writeImageWith } from './manifest.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import type { PlatformImage } from './platforms.js';

export interface ImageExportOptions {
  layers: LayerOptions;
  /** undefined: the exporter's default (OCI for image/oci, Docker for docker). */
  oci?: boolean;
  /** rewrite-timestamp=true: clamp file mtimes in the layers to SOURCE_DATE_EPOCH. */
  rewriteTimestamp: boolean;
  annotations: Record<string, string>;
  indexAnnotations: Record<string, string>;
}

export function parseImageOptions(attrs: Record<string, string>): ImageExportOptions {
  const layers: LayerOptions = {};
  if (attrs.compression) layers.compression = attrs.compression as Compression;
  if (attrs['compression-level'] !== undefined) layers.level = Number(attrs['compression-level']);
  if (attrs['force-compression'] === 'true') layers.force = true;
  const out: ImageExportOptions = { layers, rewriteTimestamp: attrs['rewrite-timestamp'] === 'true', annotations: {}, indexAnnotations: {} };
  if (attrs['oci-mediatypes'] !== undefined) out.oci = attrs['oci-mediatypes'] === 'true';
  for (const [k, v] of Object.entries(attrs)) {
    const m = /^annotation(?:-(manifest|index|manifest-descriptor))?\.(.+)$/.exec(k);
    if (!m) continue;
    if (m[1] === 'index') out.indexAnnotations[m[2]!] = v;
    else out.annotations[m[2]!] = v;
  }
  return out;
}

/**
 * The image this output writes: `base` when nothing differs from the build's default, else new blobs
 * (converted layers, other media types, annotations). zstd needs OCI media types.
 * `local` (the image store): layers stay as the build keeps them; any other output leaves the store, so
 * a layer kept uncompressed is exported gzip-compressed unless `compression=` says otherwise.
 */
export async function imageFor(result: BuildResult, base: ImageBlobs, opts: ImageExportOptions, defaultOci: boolean, ctx: ExportContext, local = false): Promise<ImageBlobs> {
  const oci = opts.oci ?? (opts.layers.compression === 'zstd' ? true : defaultOci);
  if (!oci && opts.layers.compression === 'zstd') {
    throw new TsbuildError('USAGE', 'compression=zstd needs oci-mediatypes=true (Docker media types have no zstd layer)');
  }
  const layerOpts: LayerOptions = { ...opts.layers };
  const sde = ctx.imageOptions?.sourceDateEpoch;
  if (opts.rewriteTimestamp) {
    if (sde === undefined) throw new TsbuildError('USAGE', 'rewrite-timestamp=true needs SOURCE_DATE_EPOCH (a build arg or an environment variable)');
    layerOpts.rewriteTimestamp = sde;
  }
  const plain = layerOpts.compression === undefined && layerOpts.rewriteTimestamp === undefined && !(layerOpts.force && layerOpts.level !== undefined);
  // A layer the build keeps uncompressed leaves the store gzip-compressed unless compression= is given.
  const leaving = !local && layerOpts.compression === undefined && hasUncompressed(result.layers);
  if (plain && !leaving && oci && Object.keys(opts.annotations).length === 0) return base;
  const layers = plain && !leaving ? result.layers : await mapLimited(result.layers, async (l) => {
    if (!leaving || compressionOf(l.descriptor.mediaType) !== 'uncompressed') return prepareLayer(l, layerOpts, ctx.content, ctx.signal);
    // a lazily imported cache layer is fetched first
    if (ctx.ensureBlob && !(await ctx.content.has(l.descriptor.digest))) await ctx.ensureBlob(l.descriptor);
    return prepareLayer(l, { ...layerOpts, compression: 'gzip' }, ctx.content, ctx.signal);
  });
  return writeImageWith(result, ctx.content, {
    ...(ctx.imageOptions ?? {}),
    oci,
    annotations: opts.annotations,
    layers,
  });
}

/** Wrap an exporter that takes the image as given (e.g. the registry push) so it gets this output's options. */
export function withImageOptions(inner: Exporter, attrs: Record<string, string>): Exporter {
  const opts = parseImageOptions(attrs);
  return {
    type: inner.type,
    ...(inner.exportPlatforms ? { exportPlatforms: (images: PlatformImage[], ctx: ExportContext) => inner.exportPlatforms!(images, ctx, opts) } : {}),
    async export(result: BuildResult, base: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
      const image = await imageFor(result, base, opts, true, ctx);
      const r = await inner.export(result, image, ctx);
      return image.manifest.digest !== base.manifest.digest ? { ...r, manifest: image.manifest, config: image.config } : r;
    },
  };
}
