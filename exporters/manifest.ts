/**
 * Turn a BuildResult into image blobs in the content store: the image config (with created times)
 * and an OCI image manifest. Deterministic: the same result and time give the same digests.
 */
import type { ContentStore } from '../src/content/types.js';
import { MediaType, type ImageConfig, type Manifest } from '../src/image/types.js';
import type { BuildResult } from '../src/llb/result.js';
import type { ImageBlobs } from './types.js';

/** The image's created time: SOURCE_DATE_EPOCH, else when the newest layer was built, else now. */
export function imageCreatedTime(result: BuildResult, env: NodeJS.ProcessEnv = process.env): string {
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde !== undefined && /^\d+$/.test(sde)) return new Date(Number(sde) * 1000).toISOString();
  return result.created ?? new Date().toISOString();
}

export function finalConfig(result: BuildResult, created: string): ImageConfig {
  const cfg: ImageConfig = structuredClone(result.image);
  cfg.created = created;
  cfg.rootfs = { type: 'layers', diff_ids: result.layers.map((l) => l.diffID) };
  if (cfg.history) cfg.history = cfg.history.map((h) => (h.created ? h : { created, ...h }));
  return cfg;
}

export async function writeImage(result: BuildResult, content: ContentStore, env: NodeJS.ProcessEnv = process.env): Promise<ImageBlobs> {
  const cfg = finalConfig(result, imageCreatedTime(result, env));
  const cfgBytes = Buffer.from(JSON.stringify(cfg));
  const cfgInfo = await content.put(cfgBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: cfgInfo.digest, size: cfgInfo.size },
    layers: result.layers.map((l) => ({ mediaType: l.descriptor.mediaType, digest: l.descriptor.digest, size: l.descriptor.size })),
  };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  const mInfo = await content.put(mBytes);
  return {
    manifest: { mediaType: MediaType.OciManifest, digest: mInfo.digest, size: mInfo.size },
    config: manifest.config,
  };
}
