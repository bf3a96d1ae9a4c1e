/**
 * The contents of image archives, as sorted tar entries: an OCI image layout (oci-layout, index.json,
 * blobs/sha256/*), and Docker's `docker load` archive (the same layout plus manifest.json and
 * repositories, as `docker save` of Docker 25+ writes). Shared by the exporters and `tsbuild save`.
 */
import { layoutBlobPath } from '../content/digest.js';
import type { ContentStore } from '../content/types.js';
import { familiarName } from '../image/reference.js';
import { MediaType, type Descriptor, type Index, type Manifest } from '../image/types.js';
import type { ArchiveEntry } from './output-file.js';


/** The manifest, config and layers of an image, sorted by digest, without duplicates. */
export async function imageBlobs(manifestDesc: Descriptor, content: ContentStore): Promise<Descriptor[]> {
  const manifest = JSON.parse((await content.read(manifestDesc.digest)).toString()) as Manifest;
  const seen = new Set<string>();
  const out: Descriptor[] = [];
  for (const b of [manifestDesc, manifest.config, ...manifest.layers]) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    out.push(b);
  }
  return out.sort((a, c) => (a.digest < c.digest ? -1 : a.digest > c.digest ? 1 : 0));
}

/** A layout index entry for `manifest`; `name` (normalized) becomes the containerd and ref.name annotations. */
export function indexEntry(manifest: Descriptor, name: string | undefined): Descriptor {
  const annotations: Record<string, string> = {};
  if (name) {
    annotations['io.containerd.image.name'] = name;
    const tag = /:([\w][\w.-]{0,127})$/.exec(name.replace(/@.*$/, ''))?.[1];
    if (tag) annotations['org.opencontainers.image.ref.name'] = tag;
  }
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, ...(Object.keys(annotations).length ? { annotations } : {}) };
}

/** index.json of a layout holding one image under each of `names` (or unnamed). */
export function indexFor(manifest: Descriptor, names: string[], indexAnnotations: Record<string, string> = {}): Index {
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: names.length ? names.map((n) => indexEntry(manifest, n)) : [indexEntry(manifest, undefined)],
  };
  if (Object.keys(indexAnnotations).length) index.annotations = { ...indexAnnotations };
  return index;
}

export function layoutEntries(blobs: Descriptor[], content: ContentStore, index: Index): ArchiveEntry[] {
  return [
    { name: 'blobs/' },
    ...[...new Set(blobs.map((b) => layoutBlobPath(b.digest).replace(/[^/]+$/, '')))].sort().map((name) => ({ name })),
    ...blobs.map((b) => ({ name: layoutBlobPath(b.digest), file: content.path(b.digest), size: b.size })),
    { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
    { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
  ];
}

/** One image of an archive and the names it carries (normalized references). */
export interface ArchiveImage {
  manifest: Descriptor;
  names: string[];
}

/** The entries of an OCI layout tarball holding `images`. */
export async function ociArchiveEntries(images: ArchiveImage[], content: ContentStore, indexAnnotations: Record<string, string> = {}): Promise<ArchiveEntry[]> {
  const blobs = await allBlobs(images, content);
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: images.flatMap((im) => indexFor(im.manifest, im.names).manifests) };
  if (Object.keys(indexAnnotations).length) index.annotations = { ...indexAnnotations };
  return layoutEntries(blobs, content, index);
}

/** The entries of a docker-load archive of `images` (Docker 25+ `docker save` layout). */
export async function dockerArchiveEntries(images: ArchiveImage[], content: ContentStore, indexAnnotations: Record<string, string> = {}): Promise<ArchiveEntry[]> {
  const path = (d: Descriptor) => layoutBlobPath(d.digest);
  const dockerManifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const im of images) {
    const manifest = JSON.parse((await content.read(im.manifest.digest)).toString()) as Manifest;
    const repoTags = im.names.filter((n) => !n.includes('@')).map((n) => familiarName(n));
    dockerManifest.push({ Config: path(manifest.config), RepoTags: repoTags, Layers: manifest.layers.map(path) });
    const top = manifest.layers.at(-1);
    for (const t of repoTags) {
      const at = t.lastIndexOf(':');
      if (at < 0 || !top || t.lastIndexOf('/') > at) continue;
      (repositories[t.slice(0, at)] ??= {})[t.slice(at + 1)] = top.digest.slice('sha256:'.length);
    }
  }
  const entries = await ociArchiveEntries(images, content, indexAnnotations);
  entries.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(dockerManifest)) });
  if (Object.keys(repositories).length) entries.push({ name: 'repositories', data: Buffer.from(JSON.stringify(repositories)) });
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function allBlobs(images: ArchiveImage[], content: ContentStore): Promise<Descriptor[]> {
  const byDigest = new Map<string, Descriptor>();
  for (const im of images) for (const b of await imageBlobs(im.manifest, content)) byDigest.set(b.digest, b);
  return [...byDigest.values()].sort((a, c) => (a.digest < c.digest ? -1 : a.digest > c.digest ? 1 : 0));
}
