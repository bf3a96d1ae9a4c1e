/**
 * `--iidfile FILE` (the image ID: the config digest, as Docker writes it) and `--metadata-file FILE`
 * (JSON as buildx writes it: containerimage.digest, containerimage.config.digest, containerimage.descriptor,
 * image.name, plus tsbuild.steps: each step's name, whether it came from the cache, and how long it took).
 * Both files are written atomically.
 */
import { resolve } from 'node:path';
import { TsbuildError } from '../errors.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { Descriptor } from '../image/types.js';
import type { BuildResult } from '../llb/result.js';
import type { BuildArgs } from './args.js';

export interface BuildMetadataInput {
  args: Pick<BuildArgs, 'iidfile' | 'metadataFile'>;
  result: Pick<BuildResult, 'vertices'>;
  blobs: { manifest: Descriptor; config: Descriptor };
  /** What each exporter returned; a `manifest` there is an output's own variant of the image. */
  responses: { message: string; manifest?: Descriptor; config?: Descriptor }[];
  names: string[];
}

/**
 * The image the build names: the first output's (its own variant when its options rewrote the layers, e.g.
 * rewrite-timestamp=true), as buildx reports its exporter's image; the build's default image without outputs.
 */
export function namedImage(input: Pick<BuildMetadataInput, 'blobs' | 'responses'>): { manifest: Descriptor; config: Descriptor } {
  const first = input.responses[0];
  return first?.manifest && first.config ? { manifest: first.manifest, config: first.config } : input.blobs;
}

export function buildMetadata(input: BuildMetadataInput): Record<string, unknown> {
  const { result, names } = input;
  const blobs = namedImage(input);
  const md: Record<string, unknown> = {
    'containerimage.digest': blobs.manifest.digest,
    'containerimage.config.digest': blobs.config.digest,
    'containerimage.descriptor': { mediaType: blobs.manifest.mediaType, digest: blobs.manifest.digest, size: blobs.manifest.size },
  };
  if (names.length) md['image.name'] = names.join(',');
  const variants = input.responses.filter((r) => r.manifest).map((r) => r.manifest!.digest);
  if (variants.length) md['tsbuild.outputs.digests'] = [...new Set(variants)];
  md['tsbuild.steps'] = result.vertices.map((v) => {
    const x = v as typeof v & { cacheMiss?: string[]; cachedFrom?: string };
    return { id: v.id, name: v.name, cached: v.cached, durationMs: v.durationMs, ...(x.cacheMiss ? { cacheMiss: x.cacheMiss } : {}), ...(x.cachedFrom ? { cachedFrom: x.cachedFrom } : {}) };
  });
  return md;
}

export async function writeBuildMetadata(input: BuildMetadataInput): Promise<void> {
  const write = async (file: string, text: string, what: string) => {
    try {
      await writeFileAtomic(resolve(file), text);
    } catch (err) {
      throw new TsbuildError('EXPORT_FAILED', `cannot write ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (input.args.iidfile) await write(input.args.iidfile, namedImage(input).config.digest, '--iidfile');
  if (input.args.metadataFile) await write(input.args.metadataFile, JSON.stringify(buildMetadata(input), null, 2) + '\n', '--metadata-file');
}
