/**
 * A multi-platform build's image: one image per platform (each with the output's own options, as a
 * one-platform output gets them) and the OCI image index naming them with their platforms (a Docker
 * manifest list with `oci-mediatypes=false`), written to the content store. Used by every output that
 * can hold several platforms (image store, registry, OCI layout); `type=local`/`type=tar` write one
 * subdirectory per platform, named as buildx names them (`linux_amd64`, `linux_arm_v7`).
 */
import { formatPlatform, specPlatform } from '../src/image/platform.js';
import { MediaType, type Descriptor, type Index, type Platform } from '../src/image/types.js';
import type { BuildResult } from '../src/llb/result.js';
import { imageFor, type ImageExportOptions } from './options.js';
import type { ExportContext, ImageBlobs } from './types.js';

/** One platform's result and the build's default image of it. */
export interface PlatformImage {
  platform: Platform;
  result: BuildResult;
  blobs: ImageBlobs;
}

/** The index this output writes and the images (its own variants, when its options differ) it names. */
export interface IndexBlobs {
  index: Descriptor;
  images: ImageBlobs[];
}

/** The platform as an index entry writes it (BuildKit's form: arm64 without v8; keys in BuildKit's order). */
export function indexPlatform(p: Platform): Platform {
  const s = specPlatform(p);
  return { architecture: s.architecture, os: s.os, ...(s.variant ? { variant: s.variant } : {}) } as Platform;
}

/** `linux/arm/v7` → `linux_arm_v7`: a platform's subdirectory in a type=local or type=tar output (as buildx). */
export function platformDirName(p: Platform): string {
  return formatPlatform(specPlatform(p)).replace(/\//g, '_');
}

export async function writePlatformIndex(images: PlatformImage[], opts: ImageExportOptions, defaultOci: boolean, ctx: ExportContext): Promise<IndexBlobs> {
  const made: ImageBlobs[] = [];
  for (const img of images) made.push(await imageFor(img.result, img.blobs, opts, defaultOci, ctx));
  const oci = made.every((m) => m.manifest.mediaType === MediaType.OciManifest);
  const index: Index = {
    schemaVersion: 2,
    mediaType: oci ? MediaType.OciIndex : MediaType.DockerManifestList,
    manifests: made.map((m, i) => ({ mediaType: m.manifest.mediaType, digest: m.manifest.digest, size: m.manifest.size, platform: indexPlatform(images[i]!.platform) })),
  };
  if (oci && Object.keys(opts.indexAnnotations).length) index.annotations = { ...opts.indexAnnotations };
  const info = await ctx.content.put(Buffer.from(JSON.stringify(index)));
  return { index: { mediaType: index.mediaType!, digest: info.digest, size: info.size }, images: made };
}
