import { fdatasync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ContentStore } from '../content/types.js';
import { StoreError } from '../errors.js';
import { MediaType, type Layer } from '../image/types.js';
import { LayerSink } from './layer-sink.js';
import { readOpaqueDirs } from './special-files.js';
import { produceTar, produceTarFile } from './tar-producer.js';
import { SMALL_GZIP_BYTES } from './compress.js';

export interface CreateLayerOptions {
  /** An overlay-format layer dir (Snapshotter.layerDir): whiteouts are 0/0 char devices, opaque dirs carry an xattr. */
  layerDir: string;
  content: ContentStore;
  /** Default gzip (pigz when installed, else zlib; see compress.ts). */
  compression?: 'gzip' | 'zstd' | 'none';
  /** gzip level 1–9 (default DEFAULT_GZIP_LEVEL in compress.ts), zstd 1–22 (default 3). */
  level?: number;
  /**
   * With compression 'none': called after the commit of a layer of at most SMALL_GZIP_BYTES (compress.ts)
   * with its whole tar, still in memory (the solver makes its gzip variant from it in the background:
   * variants.ts gzipVariantOfSmall).
   */
  onSmallTar?: (layer: Layer, tar: Buffer) => void;
  signal?: AbortSignal;
}

/**
 * Stream a deterministic tar of `layerDir` into the content store and return the layer.
 *
 * The tar's format (order, headers, OCI whiteouts for overlay ones) is tar-tree.ts's. The diffID
 * (uncompressed) and the blob digest are computed in the same pass (one hash when they are the same:
 * an uncompressed layer, which the tar's thread writes and hashes itself when the store allows it:
 * ContentWriter.direct). Same tree → same bytes.
 */
export async function createLayer(opts: CreateLayerOptions): Promise<Layer> {
  const compression = opts.compression ?? 'gzip';
  const level = opts.level;
  const { signal } = opts;
  signal?.throwIfAborted();
  const layerDir = resolve(opts.layerDir);
  const writer = await opts.content.writer();
  // An uncompressed layer is written into the ingest file by the thread that makes the tar, when the store
  // offers its descriptor (tar-file.ts); otherwise (compressed, or another store) through the LayerSink.
  // The writer expects no digest, so it names blobs by sha256, which tar-file.ts computes.
  const direct = compression === 'none' ? writer.direct?.() : undefined;
  const sink = direct ? undefined : new LayerSink(writer, compression, level, opts.onSmallTar !== undefined);
  try {
    if (direct && direct.algorithm !== 'sha256') throw new StoreError('INTERNAL', `createLayer: a ${direct.algorithm} content writer`);
    let res: { size: number; diffID?: string; small?: Buffer };
    if (direct) {
      const file = await flushingMeanwhile(direct.fd, produceTarFile(layerDir, await opaqueDirs(layerDir), direct.fd, opts.onSmallTar ? SMALL_GZIP_BYTES : 0, signal));
      direct.written(file.size, file.hex);
      res = file;
    } else {
      await tarTree(layerDir, (chunk) => sink!.write(chunk), signal);
      res = await sink!.finish();
    }
    const info = await writer.commit();
    if (info.size !== res.size) {
      throw new StoreError('LAYER_HASH_MISMATCH', `layer blob ${info.digest} (${info.size} bytes) does not match the bytes produced (${res.size} bytes)`);
    }
    const layer: Layer = {
      descriptor: { mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer, digest: info.digest, size: info.size },
      diffID: res.diffID ?? info.digest,
    };
    if (res.small) opts.onSmallTar!(layer, res.small);
    return layer;
  } catch (err) {
    sink?.destroy();
    await writer.abort();
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  }
}

/**
 * Stream the deterministic tar of `dir` (format as tar-tree.ts describes) to `onChunk`, which may apply
 * back-pressure by returning a promise. A plain directory (no whiteouts, no opaque xattrs, e.g. a
 * mounted rootfs) gives a plain rootfs tar. The tar is made on a worker thread (tar-producer.ts).
 */
export async function tarTree(dir: string, onChunk: (chunk: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const layerDir = resolve(dir);
  await produceTar(layerDir, await opaqueDirs(layerDir), onChunk, signal);
}

/** The opaque directories of a layer dir. Only a directory below the root can be opaque: a layer without one
 * (common for small RUN steps) needs no getfattr process. */
async function opaqueDirs(layerDir: string): Promise<Set<string>> {
  const hasSubdir = readdirSync(layerDir, { withFileTypes: true }).some((e) => e.isDirectory());
  return hasSubdir ? await readOpaqueDirs(layerDir) : new Set<string>();
}

/** How often what is already written of a directly written layer is flushed while the rest is made. */
const WRITEBACK_MS = 100;

/**
 * While `work` writes into `fd`, flush what is already there every WRITEBACK_MS (fdatasync on the thread
 * pool; the writing thread goes on), so the disk works while the tar is made and the commit's fsync finds
 * little left (a 305 MB layer: ~160-190 ms of fsync at the end before). Settles after the last flush: the
 * caller may close `fd` then. A flush that fails is ignored: the commit's fsync reports the error.
 */
async function flushingMeanwhile<T>(fd: number, work: Promise<T>): Promise<T> {
  let stop!: () => void;
  const stopped = new Promise<void>((res) => (stop = res));
  const loop = (async () => {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<boolean>((res) => (timer = setTimeout(() => res(true), WRITEBACK_MS)));
      const go = await Promise.race([tick, stopped.then(() => false)]);
      clearTimeout(timer);
      if (!go) return;
      await new Promise<void>((res) => fdatasync(fd, () => res()));
    }
  })();
  try {
    return await work;
  } finally {
    stop();
    await loop;
  }
}
