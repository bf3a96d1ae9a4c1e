/**
 * Layer variants. A build keeps its own layers uncompressed in the store (as dockerd's BuildKit keeps its
 * snapshots): an image that leaves the store (push, an OCI/docker archive, --load, a cache export) carries
 * each such layer gzip-compressed (`forExport`), made on first use and memoized like every variant below.
 *
 * The layers an export uses: the build's layers, recompressed (compression=, compression-level=,
 * force-compression=) and/or re-tarred with file mtimes clamped to SOURCE_DATE_EPOCH (rewrite-timestamp=).
 *
 * Each variant is made once: `<content root>/variants/<sha256(key)>.json` maps
 * (source diffID, compression, level, engine, epoch) → the variant's descriptor and diffID, written
 * atomically after its blob is committed; a later export or push reads the memo and reuses the blob.
 * A small layer's gzip variant is made right after its commit (gzipVariantOfSmall), same bytes.
 * Independent layers are converted in parallel, VARIANT_CONCURRENCY at a time.
 */
import { digestHasher, parseDigest } from '../content/digest.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import type { ContentStore } from '../content/types.js';
import { compressStream, compressionOf, decompressStream, gzipEngine, gzipSmall, SMALL_GZIP_BYTES, type Compression } from './compress.js';
import { StoreError } from '../errors.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { MediaType, type Layer } from '../image/types.js';

export interface LayerOptions {
  /** Wanted compression; undefined keeps each layer as built. */
  compression?: Compression;
  level?: number;
  /** Recompress layers already in the wanted compression too (at `level`). */
  force?: boolean;
  /** Clamp every entry's mtime to this (seconds since the epoch). */
  rewriteTimestamp?: number;
}

/**
 * The layers of an image leaving the store: every uncompressed layer replaced by its gzip variant at the
 * default level (memoized: a second export or push reuses it); compressed layers are kept as they are.
 * `ensure` first fetches a blob the store lacks (a lazily imported cache layer).
 */
export async function forExport(layers: Layer[], content: ContentStore, signal?: AbortSignal, ensure?: (l: Layer) => Promise<void>): Promise<Layer[]> {
  return mapLimited(layers, async (l) => {
    if (compressionOf(l.descriptor.mediaType) !== 'uncompressed') return l;
    if (ensure && !(await content.has(l.descriptor.digest))) await ensure(l);
    return prepareLayer(l, { compression: 'gzip' }, content, signal);
  });
}

/** Variants made at once: each is a compressor process (pigz is itself parallel); 31 at once thrash 2 cores. */
export const VARIANT_CONCURRENCY = 2;

/** `fn` over `xs`, in order, at most VARIANT_CONCURRENCY at a time. */
export async function mapLimited<T, R>(xs: T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const lane = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(VARIANT_CONCURRENCY, xs.length) }, lane));
  return out;
}

/** True when some layer is stored uncompressed (forExport would change the image). */
export function hasUncompressed(layers: Layer[]): boolean {
  return layers.some((l) => compressionOf(l.descriptor.mediaType) === 'uncompressed');
}

export async function prepareLayers(layers: Layer[], opts: LayerOptions, content: ContentStore, signal?: AbortSignal): Promise<Layer[]> {
  return mapLimited(layers, (l) => prepareLayer(l, opts, content, signal));
}

export async function prepareLayer(layer: Layer, opts: LayerOptions, content: ContentStore, signal?: AbortSignal): Promise<Layer> {
  const have = compressionOf(layer.descriptor.mediaType);
  const want = opts.compression ?? have;
  const rewrite = opts.rewriteTimestamp;
  if (rewrite === undefined && want === have && !(opts.force && opts.level !== undefined)) return layer;
  const memoPath = variantMemoPath(content, layer.diffID, want, opts.level, rewrite);
  const memo = await readMemo(memoPath, content);
  if (memo) return memo;
  signal?.throwIfAborted();

  const diffHash = createHash('sha256');
  const stages: unknown[] = [decompressStream(have)];
  if (rewrite !== undefined) stages.push(clampMtimes(rewrite));
  // an uncompressed source is its own diff: its verified digest is the diffID (no second hash)
  const sameBytes = have === 'uncompressed' && rewrite === undefined;
  if (!sameBytes) stages.push(tap((c) => diffHash.update(c)));
  if (want !== 'uncompressed') stages.push(compressStream(want, opts.level));
  const writer = await content.writer();
  try {
    const src: Readable = content.createReadStream(layer.descriptor.digest);
    const srcHash = digestHasher(parseDigest(layer.descriptor.digest).algorithm);
    const verify = tap((c) => srcHash.update(c));
    const sink = async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) await writer.write(c);
    };
    await (pipeline as unknown as (...a: unknown[]) => Promise<void>)(src, verify, ...stages, sink, ...(signal ? [{ signal }] : []));
    if (srcHash.format() !== layer.descriptor.digest) {
      throw new StoreError('LAYER_CORRUPT', `layer blob ${layer.descriptor.digest} in the content store does not match its digest`);
    }
    const info = await writer.commit();
    const diffID = sameBytes ? layer.descriptor.digest : 'sha256:' + diffHash.digest('hex');
    if (rewrite === undefined && diffID !== layer.diffID) {
      throw new StoreError('LAYER_CORRUPT', `layer ${layer.descriptor.digest} uncompresses to ${diffID}, not its diffID ${layer.diffID}`);
    }
    const out: Layer = { descriptor: { mediaType: mediaTypeFor(want, true), digest: info.digest, size: info.size }, diffID };
    await writeMemo(memoPath, out);
    return out;
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** The layer media type for a compression, OCI or Docker flavour (zstd exists only as OCI). */
export function mediaTypeFor(c: Compression, oci: boolean): string {
  if (c === 'zstd') return MediaType.OciLayerZstd;
  if (oci) return c === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer;
  return c === 'gzip' ? MediaType.DockerLayerGzip : 'application/vnd.docker.image.rootfs.diff.tar';
}

/**
 * The memo file of a variant: (source diffID, compression, level, engine, epoch) → `<content root>/variants/<sha256(key)>.json`.
 * v4: the default gzip of an incompressible input up to SMALL_GZIP_BYTES is stored blocks (compress.ts
 * defaultGzipLevel), not level 1;
 * v3: a gzip input up to SMALL_GZIP_BYTES is compressed by zlib, not pigz (other bytes than under v2);
 * v2: the default gzip level went from 6 to 1.
 */
function variantMemoPath(content: ContentStore, diffID: string, want: Compression, level: number | undefined, rewrite: number | undefined): string {
  const engine = want === 'gzip' ? gzipEngine() : want;
  const key = ['v4', diffID, want, level ?? 'default', engine, rewrite ?? '-'].join('|');
  return join(content.root, 'variants', createHash('sha256').update(key).digest('hex') + '.json');
}

/**
 * A memo is a cache: written without fsync (after its blob is committed, so a memo never names a blob that
 * is not durable), and trusted only when its blob is there with its size. Missing, unreadable, cut short by
 * a power loss, or naming a missing blob: the variant is made again.
 */
async function readMemo(path: string, content: ContentStore): Promise<Layer | undefined> {
  let memo: Layer;
  try {
    memo = JSON.parse(await readFile(path, 'utf8')) as Layer;
  } catch {
    return undefined;
  }
  if (typeof memo?.descriptor?.digest !== 'string' || typeof memo.diffID !== 'string') return undefined;
  const info = await content.info(memo.descriptor.digest).catch(() => undefined);
  return info && info.size === memo.descriptor.size ? memo : undefined;
}

function writeMemo(path: string, variant: Layer): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(variant), { mkdir: true, durable: false });
}

/**
 * Make and remember the default gzip variant of the uncompressed, committed `layer` whose whole tar is
 * `tar` (at most SMALL_GZIP_BYTES): what forExport would make for it, same bytes (one zlib call, see
 * compress.ts; `gzip` is gzipSmall or the same zlib call on another thread), so an export or push finds it
 * ready. Made beside the build after a small layer's commit (small-variants.ts). Skipped when the memo is there;
 * undefined when `beforeCommit`, asked once the bytes are compressed, says they are no longer wanted.
 */
export async function gzipVariantOfSmall(content: ContentStore, layer: Layer, tar: Buffer, gzip: (data: Buffer) => Promise<Buffer> = gzipSmall, beforeCommit: () => boolean = () => true): Promise<Layer | undefined> {
  if (tar.byteLength > SMALL_GZIP_BYTES) throw new StoreError('LAYER_NOT_SMALL', `layer ${layer.diffID} is larger than ${SMALL_GZIP_BYTES} bytes`);
  const memoPath = variantMemoPath(content, layer.diffID, 'gzip', undefined, undefined);
  const memo = await readMemo(memoPath, content);
  if (memo) return memo;
  // compressed before the ingest file is opened: a build killed while the worker compresses leaves nothing
  const data = await gzip(tar);
  if (!beforeCommit()) return undefined; // no longer wanted: nothing written
  const writer = await content.writer();
  let info;
  try {
    await writer.write(data);
    info = await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const out: Layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: info.digest, size: info.size }, diffID: layer.diffID };
  await writeMemo(memoPath, out);
  return out;
}

function tap(fn: (c: Buffer) => void): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    for await (const c of source) {
      fn(c);
      yield c;
    }
  };
}

/** Re-tar a layer with every entry's mtime clamped to `epoch` (no atime/ctime); everything else is kept. */
function clampMtimes(epoch: number): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  const limit = epoch * 1000;
  return async function* (source) {
    const ex = tarExtract();
    const pk = tarPack();
    ex.on('entry', (header, stream, next) => {
      const h = { ...header };
      if (h.mtime && h.mtime.getTime() > limit) h.mtime = new Date(limit);
      delete (h as { atime?: Date }).atime;
      delete (h as { ctime?: Date }).ctime;
      if (h.pax) {
        const pax: Record<string, string> = { ...(h.pax as Record<string, string>) };
        for (const k of ['mtime', 'atime', 'ctime', 'path', 'linkpath']) delete pax[k];
        if (Object.keys(pax).length) h.pax = pax;
        else delete h.pax;
      }
      const entry = pk.entry(h, (err) => (err ? ex.destroy(err) : next()));
      stream.pipe(entry);
    });
    ex.on('finish', () => pk.finalize());
    ex.on('error', (err: Error) => pk.destroy(err));
    const feeding = (async () => {
      try {
        for await (const c of source) {
          if (!ex.write(c)) await new Promise<void>((res, rej) => {
            ex.once('drain', () => res());
            ex.once('error', rej);
          });
        }
        ex.end(undefined);
      } catch (err) {
        ex.destroy(err as Error);
      }
    })();
    for await (const c of pk) yield c as Buffer;
    await feeding;
  };
}

/**
 * The manifest `desc` names, as it leaves the store (`tsbuild push`): when it has uncompressed layers, a
 * manifest with their gzip variants instead (same config, same key order, written to the content store);
 * otherwise `desc` itself. An index is returned as it is (built images are single manifests; pulled ones
 * keep their registry's compressed layers).
 */
export async function manifestForExport(content: ContentStore, desc: { mediaType: string; digest: string; size: number }, signal?: AbortSignal): Promise<{ mediaType: string; digest: string; size: number }> {
  if (desc.mediaType !== MediaType.OciManifest && desc.mediaType !== MediaType.DockerManifest) return desc;
  const m = JSON.parse((await content.read(desc.digest)).toString('utf8')) as { layers?: { mediaType: string; digest: string; size: number }[] };
  const layers = (m.layers ?? []).map((d) => ({ descriptor: d, diffID: d.digest }));
  if (!hasUncompressed(layers)) return desc;
  const oci = desc.mediaType === MediaType.OciManifest;
  const out = await forExport(layers, content, signal);
  m.layers = out.map((l) => ({ mediaType: mediaTypeFor(compressionOf(l.descriptor.mediaType), oci), digest: l.descriptor.digest, size: l.descriptor.size }));
  const info = await content.put(Buffer.from(JSON.stringify(m)));
  return { mediaType: desc.mediaType, digest: info.digest, size: info.size };
}
