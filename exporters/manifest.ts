/**
 * Turn a BuildResult into image blobs in the content store: the image config (with created times)
 * and an OCI image manifest. Deterministic: the same result and time give the same digests.
 */
import { createHash } from 'node:crypto';
import { TsbuildError } from '../src/errors.js';
import type { ContentStore } from '../src/content/types.js';
import { MediaType, type ImageConfig, type Layer, type Manifest } from '../src/image/types.js';
import type { BuildResult } from '../src/llb/result.js';
import type { ImageBlobs } from './types.js';

/** Image-wide settings of one export. */
export interface ImageOptions {
  /** Seconds since the epoch; every created time (image, history) is set to it or clamped to it. */
  sourceDateEpoch?: number;
  /** Docker's `--label`: merged over the Dockerfile's LABELs. */
  labels?: Record<string, string>;
  /** OCI media types (default) or Docker's. */
  oci?: boolean;
  /** Manifest annotations (OCI media types only). */
  annotations?: Record<string, string>;
  /** The layers to use instead of result.layers (recompressed or re-tarred variants; same order and count). */
  layers?: Layer[];
  /** `--cache-to type=inline`: extra top-level config fields (src/cache/remote/format.ts INLINE_CACHE_FIELD). */
  inlineCache?: Record<string, unknown>;
}

/** SOURCE_DATE_EPOCH from build args first, then the environment; undefined when unset or invalid. */
export function sourceDateEpoch(buildArgs: Record<string, string>, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = buildArgs.SOURCE_DATE_EPOCH ?? env.SOURCE_DATE_EPOCH;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** SOURCE_DATE_EPOCH as RFC 3339 without a zero fraction, as BuildKit (Go) writes it: 2023-11-14T22:13:20Z. */
export function epochTime(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The image's created time: SOURCE_DATE_EPOCH, else when the newest layer was built, else now. */
export function imageCreatedTime(result: BuildResult, env: NodeJS.ProcessEnv = process.env): string {
  const sde = sourceDateEpoch({}, env);
  if (sde !== undefined) return epochTime(sde);
  return result.created ?? new Date().toISOString();
}

export function finalConfig(result: BuildResult, created: string, opts: ImageOptions = {}): ImageConfig {
  const cfg: ImageConfig = structuredClone(result.image);
  const layers = opts.layers ?? result.layers;
  cfg.created = created;
  cfg.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffID) };
  if (opts.labels && Object.keys(opts.labels).length) cfg.config = { ...cfg.config, Labels: { ...cfg.config.Labels, ...opts.labels } };
  if (opts.inlineCache) Object.assign(cfg, opts.inlineCache);
  const clamp = opts.sourceDateEpoch !== undefined ? created : undefined;
  if (cfg.history) {
    cfg.history = cfg.history.map((h) => {
      if (!h.created) return { created, ...h };
      if (clamp !== undefined && Date.parse(h.created) > Date.parse(clamp)) return { ...h, created: clamp };
      return h;
    });
  }
  return cfg;
}

export async function writeImage(result: BuildResult, content: ContentStore, env: NodeJS.ProcessEnv = process.env): Promise<ImageBlobs> {
  const sde = sourceDateEpoch({}, env);
  return writeImageWith(result, content, sde !== undefined ? { sourceDateEpoch: sde } : {});
}

/** Config and manifest blobs for `result` with `opts`; layers must already be in the content store. */
export async function writeImageWith(result: BuildResult, content: ContentStore, opts: ImageOptions): Promise<ImageBlobs> {
  const layers = opts.layers ?? result.layers;
  const created = opts.sourceDateEpoch !== undefined ? epochTime(opts.sourceDateEpoch) : (result.created ?? new Date().toISOString());
  const cfg = finalConfig(result, created, opts);
  const oci = opts.oci ?? true;
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  // The config's digest is known before its blob is written, so the config and the manifest are written
  // side by side (each temp → fsync → rename → fsync dir): nothing names either until both are committed.
  const cfgInfo = { digest: `sha256:${createHash('sha256').update(cfgBytes).digest('hex')}`, size: cfgBytes.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: oci ? MediaType.OciManifest : MediaType.DockerManifest,
    config: { mediaType: oci ? MediaType.OciConfig : MediaType.DockerConfig, digest: cfgInfo.digest, size: cfgInfo.size },
    layers: layers.map((l) => ({ mediaType: oci ? l.descriptor.mediaType : dockerLayerType(l.descriptor.mediaType), digest: l.descriptor.digest, size: l.descriptor.size })),
  };
  if (oci && opts.annotations && Object.keys(opts.annotations).length) manifest.annotations = { ...opts.annotations };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  const [written, mInfo] = await Promise.all([content.put(cfgBytes), content.put(mBytes)]);
  if (written.digest !== cfgInfo.digest) throw new TsbuildError('INTERNAL', `config blob written as ${written.digest}, expected ${cfgInfo.digest}`);
  return {
    manifest: { mediaType: manifest.mediaType!, digest: mInfo.digest, size: mInfo.size },
    config: manifest.config,
  };
}

/** A layer media type in Docker's flavour (zstd has none and keeps the OCI type, as BuildKit does). */
export function dockerLayerType(mediaType: string): string {
  switch (mediaType) {
    case MediaType.OciLayerGzip:
      return MediaType.DockerLayerGzip;
    case MediaType.OciLayer:
      return 'application/vnd.docker.image.rootfs.diff.tar';
    default:
      return mediaType;
  }
}
