import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import type { ContentStore } from '../content/types.js';
import { DigestMismatchError, StoreError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { LayerTreeWriter } from './apply-tree.js';

export interface ApplyLayerOptions {
  content: ContentStore;
  /** The layer blob (gzip, zstd or plain tar; detected from its first bytes). */
  descriptor: Descriptor;
  /** An EMPTY overlay-format layer dir (Snapshotter.layerDir of a new active snapshot). */
  layerDir: string;
  /** If given, the uncompressed stream must hash to it. */
  diffID?: string;
  signal?: AbortSignal;
}

/**
 * Unpack a layer blob from the content store into `layerDir`, converting OCI whiteouts to overlay's format
 * (`.wh.x` → 0/0 char device `x`; `.wh..wh..opq` → xattr trusted.overlay.opaque=y on its directory).
 * Nothing is written outside `layerDir` (see LayerTreeWriter). The blob is re-hashed against its digest and
 * the diffID (sha256 of the uncompressed tar, every byte of it) is returned. On failure the layer dir is
 * emptied again.
 */
export async function applyLayer(opts: ApplyLayerOptions): Promise<{ diffID: string }> {
  const root = resolve(opts.layerDir);
  if (readdirSync(root).length !== 0) {
    throw new StoreError('LAYER_DIR_NOT_EMPTY', `cannot apply layer ${opts.descriptor.digest}: ${root} is not empty`);
  }
  opts.signal?.throwIfAborted();
  const blobPath = opts.content.path(opts.descriptor.digest);
  const compression = await sniff(blobPath);
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
  const stages: unknown[] = [opts.content.createReadStream(opts.descriptor.digest), tap(blobHash)];
  if (compression === 'gzip') stages.push(createGunzip());
  if (compression === 'zstd') stages.push(zstdDecoder());
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

async function sniff(path: string): Promise<'gzip' | 'zstd' | 'none'> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

function tap(hash: Hash) {
  return async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      hash.update(c);
      yield c;
    }
  };
}

/** Node 20's zlib has no zstd: decode with the zstd CLI (Debian package `zstd`). */
function zstdDecoder(): Duplex {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout as Readable });
  child.on('error', (err) =>
    duplex.destroy(new StoreError('TOOL_MISSING', 'cannot decompress a zstd layer: the zstd command failed to start', { cause: err, hint: 'install the zstd package' })),
  );
  child.on('exit', (code) => {
    if (code !== 0) duplex.destroy(new StoreError('ZSTD_FAILED', `zstd -d failed (exit ${code}): ${stderr.trim()}`));
  });
  return duplex;
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
