/**
 * One image read from an OCI layout directory (`--build-context NAME=oci-layout://DIR[:TAG|@DIGEST]`): the
 * manifest is chosen in `index.json` (by digest, by the `org.opencontainers.image.ref.name` tag, or the only
 * one), an index is narrowed to the build's platform, and the manifest, its config and its layers are copied
 * into the content store, each verified against its digest on the way (the directory is untrusted: a blob
 * is opened only under a name made from a valid digest). The image is not named in the image store.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../content/types.js';
import { isVerifiableDigest, layoutBlobPath } from '../content/digest.js';
import { TsbuildError } from '../errors.js';
import { formatPlatform, selectPlatform } from '../image/platform.js';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from '../image/types.js';

const JSON_LIMIT = 4 << 20;
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface LayoutImage {
  /** The manifest (for the platform) in the content store. */
  digest: string;
  config: ImageConfig;
}

export async function readLayoutImage(dir: string, want: { tag?: string; digest?: string }, content: ContentStore, platform: Platform): Promise<LayoutImage> {
  const bad = (why: string) => new TsbuildError('OCI_LAYOUT_INVALID', `oci-layout://${dir}: ${why}`);
  let index: Index;
  try {
    index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw bad(e.code === 'ENOENT' ? 'no index.json (not an OCI layout directory)' : `cannot read index.json: ${e.message}`);
  }
  if (!Array.isArray(index?.manifests)) throw bad('index.json has no manifests list');
  const entries = index.manifests.filter((m): m is Descriptor => typeof m?.digest === 'string' && typeof m.size === 'number');
  let desc: Descriptor | undefined;
  if (want.digest !== undefined) {
    desc = entries.find((m) => m.digest === want.digest);
    if (!desc) throw bad(`index.json names no manifest ${want.digest}`);
  } else {
    const tag = want.tag ?? (entries.length === 1 ? undefined : 'latest');
    desc = tag === undefined ? entries[0] : entries.find((m) => m.annotations?.[REF_NAME] === tag);
    if (!desc) {
      const tags = entries.flatMap((m) => (m.annotations?.[REF_NAME] ? [m.annotations[REF_NAME]] : []));
      throw bad(`no image tagged "${tag ?? ''}"; its tags: ${tags.length ? tags.join(', ') : '(none)'}`);
    }
  }
  const copy = async (d: Descriptor): Promise<void> => {
    if (!isVerifiableDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(`invalid descriptor ${JSON.stringify(d.digest)}`);
    if (await content.has(d.digest)) return;
    try {
      await content.putStream(createReadStream(join(dir, layoutBlobPath(d.digest))), { expected: d.digest, size: d.size });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new TsbuildError('OCI_LAYOUT_INVALID', `oci-layout://${dir}: blob ${d.digest}: ${e.code === 'ENOENT' ? 'missing' : e.message}`, { cause: err });
    }
  };
  const json = async <T>(d: Descriptor): Promise<T> => {
    if (d.size > JSON_LIMIT) throw bad(`${d.digest} is too large for a manifest (${d.size} bytes)`);
    await copy(d);
    return JSON.parse((await content.read(d.digest)).toString('utf8')) as T;
  };
  let doc = await json<Manifest | Index>(desc);
  if (desc.mediaType === MediaType.OciIndex || desc.mediaType === MediaType.DockerManifestList || 'manifests' in doc) {
    const pick = selectPlatform(((doc as Index).manifests ?? []).filter((m) => typeof m?.digest === 'string'), platform);
    if (!pick) throw bad(`no manifest for ${formatPlatform(platform)}`);
    desc = pick;
    doc = await json<Manifest>(desc);
  }
  const manifest = doc as Manifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) throw bad(`${desc.digest} is not an image manifest`);
  const config = await json<ImageConfig>(manifest.config);
  if ((config.rootfs?.diff_ids ?? []).length !== manifest.layers.length) throw bad(`${desc.digest}: ${manifest.layers.length} layers but ${config.rootfs?.diff_ids?.length ?? 0} diff_ids`);
  for (const l of manifest.layers) await copy(l);
  return { digest: desc.digest, config };
}
