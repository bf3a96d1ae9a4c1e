/**
 * Reading an image from the local stores: the manifest (choosing a platform from an index), the config,
 * and the layer chain (descriptor + diffID per layer, and OCI chain IDs).
 */
import { NotFoundError, StoreError } from '../../../src/errors.js';
import type { ContentStore } from '../../../src/content/types.js';
import { MediaType } from '../../../src/image/types.js';
import type { ImageConfig, Index, Layer, Manifest } from '../../../src/image/types.js';
import { formatPlatform, hostPlatform, selectPlatform } from '../../../src/image/platform.js';
import type { ImageStore } from '../../../src/imagestore/types.js';
import { sha256 } from '../../../src/llb/digest.js';
import type { ImageSource } from '../../../src/llb/types.js';

export interface ResolvedImage {
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  layers: Layer[];
  /** chainIDs[i] identifies layers[0..i] applied in order. */
  chainIDs: string[];
}

/** OCI chain IDs: chainID(L0) = diffID0; chainID(Ln) = sha256(chainID(n-1) + " " + diffIDn). */
export function chainIDs(diffIDs: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

export async function resolveImage(src: ImageSource, deps: { content: ContentStore; images: ImageStore }): Promise<ResolvedImage> {
  const { content, images } = deps;
  let digest = src.digest;
  let mediaType: string | undefined;
  if (digest === undefined) {
    const rec = await images.get(src.ref);
    if (!rec) {
      throw new NotFoundError('IMAGE_NOT_FOUND', `image "${src.ref}" not found in the local image store`, {
        hint: 'build or load it first (`tsbuild images` lists what the store has)',
      });
    }
    digest = rec.target.digest;
    mediaType = rec.target.mediaType;
  }
  let doc = await readJson<Manifest | Index>(content, digest, `image "${src.ref}"`);
  mediaType = doc.mediaType ?? mediaType;
  if (mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList || 'manifests' in doc) {
    const want = src.platform ?? hostPlatform();
    const pick = selectPlatform((doc as Index).manifests, want);
    if (!pick) {
      throw new NotFoundError('IMAGE_PLATFORM_NOT_FOUND', `image "${src.ref}" has no manifest for ${formatPlatform(want)}`);
    }
    digest = pick.digest;
    doc = await readJson<Manifest>(content, digest, `image "${src.ref}"`);
  }
  const manifest = doc as Manifest;
  const config = await readJson<ImageConfig>(content, manifest.config.digest, `config of image "${src.ref}"`);
  const diffIDs = config.rootfs?.diff_ids ?? [];
  if (diffIDs.length !== manifest.layers.length) {
    throw new StoreError('IMAGE_INVALID', `image "${src.ref}": ${manifest.layers.length} layers but ${diffIDs.length} diff_ids in its config`);
  }
  const layers = manifest.layers.map((descriptor, i) => ({ descriptor, diffID: diffIDs[i]! }));
  return { manifestDigest: digest, manifest, config, layers, chainIDs: chainIDs(diffIDs) };
}

async function readJson<T>(content: ContentStore, digest: string, what: string): Promise<T> {
  if (!(await content.has(digest))) {
    throw new NotFoundError('BLOB_NOT_FOUND', `${what}: blob ${digest} is missing from the content store`, {
      hint: 'run `tsbuild doctor --fix` (it removes what is broken), then pull, load or build the image again',
    });
  }
  try {
    return JSON.parse((await content.read(digest)).toString('utf8')) as T;
  } catch (err) {
    throw new StoreError('IMAGE_INVALID', `${what}: blob ${digest} is not valid JSON`, { cause: err });
  }
}
