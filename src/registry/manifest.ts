/** Reading manifests from a registry: resolve a tag (HEAD), fetch a manifest, verify it against its digest. */
import { DigestMismatchError } from '../errors.js';
import { digestOf as digestWith, isVerifiableDigest, parseDigest } from '../content/digest.js';
import { MediaType } from '../image/types.js';
import { RegistryError } from './errors.js';
import { repoScope } from './auth.js';
import type { RegistryTransport } from './transport.js';

/** The largest manifest read (as containerd's limit); a registry sending more is refused while reading. */
const MANIFEST_MAX = 4 << 20;

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(', ');

export interface ManifestRef {
  /** Repository path: `library/busybox`. */
  path: string;
  /** Tag or digest. */
  reference: string;
}

export interface ResolvedDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface FetchedManifest extends ResolvedDescriptor {
  bytes: Buffer;
}

function digestOf(bytes: Buffer): string {
  return digestWith(bytes);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function mediaTypeOf(bytes: Buffer, contentType: string | undefined): string {
  try {
    const j = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (j.mediaType) return j.mediaType;
    if (j.manifests) return MediaType.OciIndex;
    if (j.config) return MediaType.OciManifest;
  } catch {
    /* fall through */
  }
  return (contentType ?? MediaType.OciManifest).split(';')[0]!.trim();
}

/** HEAD the manifest: its digest, media type and size without the body. */
export async function headManifest(t: RegistryTransport, ref: ManifestRef, signal?: AbortSignal): Promise<ResolvedDescriptor | undefined> {
  const res = await t.send({
    method: 'HEAD',
    path: `/v2/${ref.path}/manifests/${ref.reference}`,
    headers: { accept: MANIFEST_ACCEPT },
    scopes: [repoScope(ref.path, ['pull'])],
    accept: (s) => (s >= 200 && s < 300) || s === 404,
    ...(signal ? { signal } : {}),
  });
  await res.body.dump();
  if (res.statusCode === 404) return undefined;
  const digest = header(res.headers['docker-content-digest']);
  if (!digest) return undefined; // the caller GETs instead
  return { digest, mediaType: (header(res.headers['content-type']) ?? MediaType.OciManifest).split(';')[0]!.trim(), size: Number(header(res.headers['content-length']) ?? 0) };
}

/**
 * GET a manifest and verify it: against the digest in the reference, else against the registry's
 * Docker-Content-Digest header. Throws DigestMismatchError when the bytes do not match.
 */
export async function fetchManifest(t: RegistryTransport, ref: ManifestRef, signal?: AbortSignal): Promise<FetchedManifest> {
  const name = `${t.domain}/${ref.path}${ref.reference.includes(':') ? '@' : ':'}${ref.reference}`;
  const res = await t.sendForBytes(
    {
      method: 'GET',
      path: `/v2/${ref.path}/manifests/${ref.reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [repoScope(ref.path, ['pull'])],
      accept: (s) => (s >= 200 && s < 300) || s === 404,
      what: `the manifest of ${name}`,
      ...(signal ? { signal } : {}),
    },
    MANIFEST_MAX,
    () => new RegistryError('MANIFEST_TOO_BIG', `${t.domain}/${ref.path}: manifest is larger than 4 MiB`),
  );
  if (res.statusCode === 404) {
    throw new RegistryError('IMAGE_NOT_FOUND', `${name}: manifest not found in the registry`, { status: 404 });
  }
  const bytes = res.bytes;
  const actual = digestOf(bytes);
  // A pin (a digest reference) is always verified, in its own algorithm (sha256 or sha512; any other was
  // refused before the request). Without a pin, the registry's Docker-Content-Digest is checked when tsbuild
  // can verify its algorithm; the manifest's identity is its sha256 either way.
  const pinned = ref.reference.includes(':');
  const expected = pinned ? ref.reference : header(res.headers['docker-content-digest']);
  if (expected !== undefined && (pinned || isVerifiableDigest(expected))) {
    const { algorithm } = parseDigest(expected, `manifest digest of ${t.domain}/${ref.path}`);
    const got = algorithm === 'sha256' ? actual : digestWith(bytes, algorithm);
    if (got !== expected) throw new DigestMismatchError(expected, got, `manifest ${t.domain}/${ref.path}@${ref.reference}`);
  }
  return { bytes, digest: actual, size: bytes.length, mediaType: mediaTypeOf(bytes, header(res.headers['content-type'])) };
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}
