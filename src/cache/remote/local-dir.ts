/**
 * `--cache-to type=local,dest=DIR` / `--cache-from type=local,src=DIR`: the cache as an OCI image layout
 * directory (`oci-layout`, `index.json` naming the cache manifest, `blobs/sha256/<hex>`), updated in place:
 * blobs first (each atomically), `index.json` last (atomically), then blobs no longer referenced are removed,
 * all under an exclusive lock on `DIR/.tsbuild-lock` (flock: a killed writer leaves no lock), so two exports
 * into one directory (two CI jobs) leave the last writer's cache whole: without it, the first writer's
 * clean-up could remove blobs the second writer's index.json names.
 * Reading treats the directory as untrusted: names are digests only, sizes are capped, every blob is verified.
 */
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../../content/types.js';
import { verifyDigest } from '../../content/digest.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../../fsutil/atomic.js';
import { lockFile } from '../../fsutil/flock.js';
import { MediaType, type Descriptor, type Index } from '../../image/types.js';
import { CACHE_ARTIFACT_TYPE, CacheFormatError, MAX_MANIFEST_BYTES, parseCacheConfigFull, parseCacheManifest } from './format.js';
import type { CacheSource } from './imported.js';
import { isVerifiableDigest, layoutBlobPath } from '../../content/digest.js';
import type { CachePayload } from './export.js';

function blobPath(dir: string, digest: string): string {
  if (!isVerifiableDigest(digest)) throw new CacheFormatError(`invalid digest ${JSON.stringify(digest)}`);
  return join(dir, layoutBlobPath(digest));
}

/** A small blob of the layout, read whole (at most `max` bytes) and verified. */
async function readSmallBlob(dir: string, d: Descriptor, max: number): Promise<Buffer> {
  if (d.size > max) throw new CacheFormatError(`blob ${d.digest} is too large (${d.size} bytes)`);
  const bytes = await readFile(blobPath(dir, d.digest)).catch((err: NodeJS.ErrnoException) => {
    throw new CacheFormatError(err.code === 'ENOENT' ? `blob ${d.digest} is missing` : `cannot read blob ${d.digest}: ${err.message}`);
  });
  verifyDigest(bytes, d.digest, `cache blob in ${dir}`);
  if (bytes.length !== d.size) throw new CacheFormatError(`blob ${d.digest} has ${bytes.length} bytes, not ${d.size}`);
  return bytes;
}

export async function loadLocalSource(dir: string, label = dir): Promise<CacheSource> {
  const indexBytes = await readFile(join(dir, 'index.json')).catch((err: NodeJS.ErrnoException) => {
    throw new CacheFormatError(err.code === 'ENOENT' ? `no cache in ${dir} (no index.json)` : `cannot read ${join(dir, 'index.json')}: ${err.message}`);
  });
  if (indexBytes.length > MAX_MANIFEST_BYTES) throw new CacheFormatError('index.json is too large');
  let index: Index;
  try {
    index = JSON.parse(indexBytes.toString('utf8')) as Index;
  } catch {
    throw new CacheFormatError('index.json is not JSON');
  }
  const entries = Array.isArray(index?.manifests) ? index.manifests : [];
  const desc = entries.find((d) => (d as Descriptor & { artifactType?: string })?.artifactType === CACHE_ARTIFACT_TYPE) ?? entries[0];
  if (!desc || typeof desc.digest !== 'string' || !Number.isSafeInteger(desc.size)) throw new CacheFormatError('index.json names no cache manifest');
  const manifest = parseCacheManifest(await readSmallBlob(dir, desc, MAX_MANIFEST_BYTES));
  const { records, mounts } = parseCacheConfigFull(await readSmallBlob(dir, manifest.config, manifest.config.size), manifest, label);
  return {
    label,
    records,
    mounts,
    async fetchBlob(d: Descriptor, content: ContentStore, signal?: AbortSignal): Promise<void> {
      await content.putStream(createReadStream(blobPath(dir, d.digest), { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) }), { expected: d.digest, size: d.size });
    },
  };
}

/**
 * Write `payload` into the layout at `dir` (created when missing); `blobFile(d)` is where a layer's bytes
 * are (the content store; a lazy blob is fetched by the caller first).
 */
export async function writeLocalCache(dir: string, payload: CachePayload, blobFile: (d: Descriptor) => Promise<string>, signal?: AbortSignal): Promise<void> {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const lock = await lockFile(join(dir, LOCK_FILE), signal);
  try {
    await writeLocked(dir, blobsDir, payload, blobFile);
  } finally {
    await lock.release();
  }
}

/** The lock file of a cache directory (not part of the OCI layout; readers ignore it). */
export const LOCK_FILE = '.tsbuild-lock';

async function writeLocked(dir: string, blobsDir: string, payload: CachePayload, blobFile: (d: Descriptor) => Promise<string>): Promise<void> {
  for (const d of payload.layers) {
    const dest = blobPath(dir, d.digest);
    const have = await stat(dest).catch(() => undefined);
    if (have?.size === d.size) continue;
    const tmp = tempPathFor(dest);
    try {
      await copyFile(await blobFile(d), tmp);
      const fh = await open(tmp, 'r+');
      await fh.sync().finally(() => fh.close());
      await rename(tmp, dest);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }
  await writeFileAtomic(blobPath(dir, payload.config.digest), payload.configBytes);
  await writeFileAtomic(blobPath(dir, payload.manifest.digest), payload.manifestBytes);
  await fsyncDir(blobsDir);
  await writeFileAtomic(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index: Index & { manifests: (Descriptor & { artifactType?: string })[] } = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...payload.manifest, artifactType: CACHE_ARTIFACT_TYPE, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  };
  await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(index) + '\n');
  // Blobs of earlier exports that this one no longer names.
  const keep = new Set([payload.config, payload.manifest, ...payload.layers].map((d) => d.digest.slice('sha256:'.length)));
  for (const name of await readdir(blobsDir)) {
    if (/^[0-9a-f]{64}$/.test(name) && !keep.has(name)) await unlink(join(blobsDir, name)).catch(() => {});
  }
}
