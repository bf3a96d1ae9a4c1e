/**
 * Find an image in the local store by what a user types: a name (`app`, `app:v1`, `reg:5000/a/b:t`),
 * a manifest digest (`sha256:…`, or a prefix of at least 12 hex digits), or an image ID (the config digest).
 */
import type { ContentStore } from '../content/types.js';
import { NotFoundError, UsageError } from '../errors.js';
import { normalizeReference } from '../image/reference.js';
import type { Descriptor, ImageConfig, Manifest } from '../image/types.js';
import type { ImageRecord, ImageStore } from './types.js';

export interface FoundImage {
  /** The records (tags) that point at the image; empty when found by digest of an untagged manifest. */
  records: ImageRecord[];
  manifestDesc: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  configDigest: string;
}

export async function findImage(images: ImageStore, content: ContentStore, ref: string): Promise<FoundImage> {
  const all = await images.list();
  const hex = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref)?.[1];
  let desc: Descriptor | undefined;
  if (hex) {
    const cands = new Map<string, Descriptor>();
    for (const r of all) {
      if (r.target.digest.slice(7).startsWith(hex)) cands.set(r.target.digest, r.target);
      else {
        const cfg = await readManifest(content, r.target.digest).then((m) => m.config.digest, () => '');
        if (cfg.slice(7).startsWith(hex)) cands.set(r.target.digest, r.target);
      }
    }
    if (cands.size > 1) throw new UsageError(`"${ref}" matches ${cands.size} images: give more digits`);
    desc = [...cands.values()][0];
  }
  if (!desc) {
    let name: string;
    try {
      name = normalizeReference(ref);
    } catch {
      throw new NotFoundError('IMAGE_NOT_FOUND', `no such image: ${ref}`);
    }
    desc = (await images.get(name))?.target;
  }
  if (!desc) throw new NotFoundError('IMAGE_NOT_FOUND', `no such image: ${ref}`, { hint: '`tsbuild images` lists the images in the store' });
  const manifest = await readManifest(content, desc.digest);
  const config = JSON.parse((await content.read(manifest.config.digest)).toString()) as ImageConfig;
  const d = desc;
  return { records: all.filter((r) => r.target.digest === d.digest), manifestDesc: desc, manifest, config, configDigest: manifest.config.digest };
}

async function readManifest(content: ContentStore, digest: string): Promise<Manifest> {
  try {
    return JSON.parse((await content.read(digest)).toString()) as Manifest;
  } catch (err) {
    throw new NotFoundError('MANIFEST_MISSING', `the manifest ${digest} is missing from the content store`, { cause: err });
  }
}
