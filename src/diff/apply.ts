import { createHash, type Hash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ContentStore } from '../content/types.js';
import { DigestMismatchError, StoreError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { LayerTreeWriter } from './apply-tree.js';
import { decompressStream, type Compression } from './compress.js';

export interface ApplyLayerOptions {
  content: ContentStore;
  /** The layer blob (gzip, zstd or plain tar; detected from its first bytes). */
  descriptor: Descriptor;
  /** An EMPTY overlay-format layer dir (Snapshotter.layerDir of a new active snapshot). */
  layerDir: string;
  /** If given, the uncompressed stream must hash to it. */
  diffID?: string;
  /**
   * The blob's bytes as they arrive (a download being unpacked while it is written to the content store:
   * solver/ops/image/unpack.ts); default: the blob read from the content store. Either way they are hashed
   * here and must match `descriptor.digest`.
   */
  source?: AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

/**
 * Unpack a layer blob from the content store into `layerDir`, converting OCI whiteouts to overlay's format
 * (`.wh.x` → 0/0 char device `x`; `.wh..wh..opq` → xattr trusted.overlay.opaque=y on its directory).
 * Nothing is written outside `layerDir` (see LayerTreeWriter). The blob is re-hashed against its digest and
 * the diffID (sha256 of the uncompressed tar, every byte of it) is returned. On failure the layer dir is
 * emptied again. The compression is detected from the first bytes; gzip is inflated by zlib in 256 KiB
 * chunks on libuv's thread pool (16 KiB chunks cost ~1 s more CPU per 100 MB of layer in hand-offs).
 */
export async function applyLayer(opts: ApplyLayerOptions): Promise<{ diffID: string }> {
  const root = resolve(opts.layerDir);
  if (readdirSync(root).length !== 0) {
    throw new StoreError('LAYER_DIR_NOT_EMPTY', `cannot apply layer ${opts.descriptor.digest}: ${root} is not empty`);
  }
  opts.signal?.throwIfAborted();
  const { compression, bytes } = await sniff(opts.source ?? opts.content.createReadStream(opts.descriptor.digest));
  const ac = new AbortController();
  const onAbort = () => ac.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  const extract = tar.extract({ allowUnknownFormat: true } as object);
  const writer = new LayerTreeWriter(root);

  const feed = async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) {
      diffHash.update(c);
      if (!extract.write(c)) await drained(extract);
    }
    extract.end(undefined);
  };
  const stages: unknown[] = [bytes, tap(blobHash)];
  if (compression !== 'uncompressed') stages.push(decompressStream(compression));
  const pump = (pipeline as (...args: unknown[]) => Promise<void>)(...stages, feed, { signal: ac.signal });

  const consume = async () => {
    for await (const entry of extract) await writer.entry(entry.header, entry as AsyncIterable<Buffer>);
  };

  try {
    await Promise.all([
      pump.catch((err) => {
        extract.destroy(err);
        throw err;
      }),
      consume().catch((err) => {
        ac.abort(err);
        throw err;
      }),
    ]);
    await writer.finish();
  } catch (err) {
    for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }

  const blobDigest = 'sha256:' + blobHash.digest('hex');
  const diffID = 'sha256:' + diffHash.digest('hex');
  if (blobDigest !== opts.descriptor.digest) {
    for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
    throw new DigestMismatchError(opts.descriptor.digest, blobDigest, `layer blob ${opts.descriptor.digest}`);
  }
  if (opts.diffID !== undefined && opts.diffID !== diffID) {
    for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
    throw new DigestMismatchError(opts.diffID, diffID, `layer ${opts.descriptor.digest} (uncompressed)`);
  }
  return { diffID };
}

/** The compression named by a blob's first bytes, and the blob's bytes (those first bytes included). */
async function sniff(src: AsyncIterable<Uint8Array>): Promise<{ compression: Compression; bytes: AsyncIterable<Uint8Array> }> {
  const it = src[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.byteLength;
  }
  const b = Buffer.concat(head);
  const compression = b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? 'gzip' : b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'uncompressed';
  async function* bytes(): AsyncGenerator<Uint8Array> {
    try {
      if (b.length) yield b;
      if (done) return;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    } finally {
      await it.return?.();
    }
  }
  return { compression, bytes: bytes() };
}

function tap(hash: Hash) {
  return async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      hash.update(c);
      yield c;
    }
  };
}

function drained(w: tar.Extract): Promise<void> {
  return new Promise((resolve, reject) => {
    if (w.destroyed) return reject(new StoreError('LAYER_EXTRACT_FAILED', 'layer extraction stopped'));
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      if (w.destroyed) reject(new StoreError('LAYER_EXTRACT_FAILED', 'layer extraction stopped'));
      else resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
